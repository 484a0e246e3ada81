"""Will it fit, and how fast: the memory and speed estimates (`estimate`), this machine's measured
calibration (`calibrate`), the one fit answer every command uses (`fit`) and the picker (`picker`)."""
