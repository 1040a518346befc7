"""Pure tensor math of the merge methods; each module registers its methods."""
