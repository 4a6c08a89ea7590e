//! System tests live in `tests/`.
