"""Networks: backbones, the GAP classifier, AffinityNet and the DeepLab-style segmenter."""
