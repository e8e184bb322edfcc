//! Physical envelopes of the whole car, with the six real plugins in
//! virtual time: each module checks one envelope against a published figure
//! or a law of physics, names its source and says how much tolerance it
//! allows and why.

mod airbag;
mod braking;
mod comfort;
mod common;
mod consumption;
mod dtc;
mod energy;
mod limits;
mod power_budget;
