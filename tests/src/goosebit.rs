//! goosebit under test (see below).
