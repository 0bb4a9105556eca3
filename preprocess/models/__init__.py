"""Model code and wrappers used by the production annotator backends.

Nothing here runs at import time beyond defining functions and classes: heavy packages (sam2,
transformers) are imported inside the functions that need them. Pure maths lives in
:mod:`.boxes` and :mod:`.topdown`; model wrappers live in their own modules.
"""
