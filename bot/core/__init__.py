"""Pure domain core: standard library only, no I/O, no clock, time passed in."""
