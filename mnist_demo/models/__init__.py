"""The networks by name (`registry`) and the weights file format (`checkpoint`)."""
