"""Reading an image: the report (current header, region table, log, BAT), findings, verdict."""
