"""Networks MedUE trains: perturbation generators (with central-difference convolutions) and the
surrogate segmenter the generators are trained against."""
