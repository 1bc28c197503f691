"""The errors extraction raises: ``ExtractError`` and its subclass ``SchemaError``.

They are defined with the readers (``custody.sources.errors``), which raise them too and must not
import a later stage; this module is where extraction and its callers take them from.
``WatermarkConflict`` (``custody.extract.watermarks``) is an ``ExtractError`` as well.
"""

from custody.sources.errors import ExtractError, SchemaError

__all__ = ["ExtractError", "SchemaError"]
