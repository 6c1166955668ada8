// placeholder while the net layer is written
