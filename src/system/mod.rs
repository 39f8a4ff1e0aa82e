//! System layer.
