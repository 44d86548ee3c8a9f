"""convolution rules."""
