"""PLACEHOLDER (being written)."""
def fft_scan(u, kernel): raise NotImplementedError
def ssm_kernel(A, B, C, length): raise NotImplementedError
