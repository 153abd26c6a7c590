"""English words shared by every reader of caller text: number words both ways and the one tokenizer.

The bottom of the import graph (audio, router and providers all use it): it must never import voicerouter.
"""
