//! Physical envelopes of the simulated vehicle, each asserted with a
//! tolerance against a named published figure, in virtual time.

mod airbag;
mod dtc;
