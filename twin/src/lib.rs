//! Digital twin service. Empty until the twin work lands; see ARCHITECTURE.md.
