"""The comparison report of a run (`stratsearch report`) and of several runs (`stratsearch compare`).

`view` reads a run directory into plain records; `describe`, `importance` and `findings` turn
them into text and numbers; `plots` draws; `document` holds the report as sections of blocks and
renders them to a self-contained HTML file and a Markdown twin; `build` puts it together.
"""
