"""kinevid: human video generation with physically coherent motion (MoSA and EchoMotion)."""

__version__ = "0.1.0"
