"""Draw a digit and a CNN trained on MNIST reads it; or train a network and watch it learn.

    python app.py          # http://127.0.0.1:7860 (GRADIO_SERVER_PORT / GRADIO_SERVER_NAME change it)

Hugging Face Spaces runs this file. The page is laid out in `mnist_demo/app/page.py`;
`python -m mnist_demo serve` does the same as this file.
"""

from mnist_demo.app.page import main

if __name__ == "__main__":
    main()
