"""The errors extraction raises: ``ExtractError`` and its subclasses ``SchemaError`` and
``SourceUnavailable`` (transient: the task is retried).

They are defined with the readers (``custody.sources.errors``), which raise them too and must not
import a later stage; this module is where extraction and its callers take them from.
``WatermarkConflict`` (``custody.extract.watermarks``) is an ``ExtractError`` as well.
"""

from custody.sources.errors import ExtractError, SchemaError, SourceUnavailable

__all__ = ["ExtractError", "SchemaError", "SourceUnavailable"]
