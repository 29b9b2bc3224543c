"""`make bench`: tzmq against raw blocking pyzmq and pyzmq's Tornado layers, in one run."""
