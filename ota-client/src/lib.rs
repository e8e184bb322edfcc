//! hawkBit DDI client of the TCU. Empty until the OTA work lands; see ARCHITECTURE.md.
