"""vhdxray: inspect and safely repair VHDX disk images.

The package root imports nothing, so ``import vhdxray.core`` never pulls in Textual.
"""

__version__ = "0.1.0"
