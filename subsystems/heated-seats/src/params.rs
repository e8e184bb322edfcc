//! Every tuning parameter of the seat heating in one place, each with the
//! published figure it is tuned to and where that figure comes from. The
//! model (`model.rs`) uses nothing else; a figure changes here only.

/// Surface temperature a seat at level 100 aims at, Celsius: the usual top
/// setting of production seat heaters, warm through clothing and safely
/// below the ~44 C above which long skin contact starts to burn (owners'
/// manuals warn of low-temperature burns on long use, which is also why
/// their heaters step down from the top setting after a while).
pub const FULL_LEVEL_TARGET_C: f64 = 42.0;
/// Surface temperature the lowest level (just above 0) aims at, Celsius:
/// a little below skin temperature (~33 C), so the lowest setting is mild
/// but perceptibly warm. The level maps linearly onto
/// [`LOWEST_LEVEL_TARGET_C`]..[`FULL_LEVEL_TARGET_C`], the spread between
/// the low and high settings of three-step production heaters (about 10 K).
pub const LOWEST_LEVEL_TARGET_C: f64 = 30.0;
/// Surface temperature called warm in the comfort test, Celsius: the low
/// setting's target, perceptibly warm through clothing.
pub const COMFORT_C: f64 = LOWEST_LEVEL_TARGET_C;
/// Electrical (= thermal) power of one seat's mat, W: a cushion plus
/// backrest mat of 80-100 W at 12 V, typical of production heaters. The
/// thermostat switches the full mat at any level (the level sets the
/// target, not the power), as production thermostats do.
pub const MAX_POWER_W: f64 = 90.0;
/// Heat loss from the seat surface to the cabin, W/K. Lower than the
/// ~2 W/K of a bare seat on purpose: an occupant insulates the surface,
/// and with 2 W/K a 90 W mat could not hold 42 C in a cabin colder than
/// about -3 C, while production heaters reach their top setting in a
/// -20 C car.
pub const LOSS_W_PER_K: f64 = 0.8;
/// Heat capacity of the heated layer of one seat, J/K: roughly 0.5 kg of
/// cover, mat and foam at ~1 kJ/(kg K). With the loss above the passive
/// time constant C/h is 10 minutes, and a seat reaches [`COMFORT_C`] from a
/// 0 C cabin in about 3 minutes and from -10 C in about 4.5: inside the
/// "heat will be felt within two to five minutes" of owners' manuals
/// (Chrysler and Fiat heated-seat instructions).
pub const HEAT_CAPACITY_J_PER_K: f64 = 480.0;
/// Range of the seat temperature signals, Celsius (catalog min/max).
pub const TEMP_MIN_C: f64 = -50.0;
/// See [`TEMP_MIN_C`].
pub const TEMP_MAX_C: f64 = 80.0;
/// Upper bound of the power signal, W (catalog max).
pub const POWER_MAX_W: f64 = 1000.0;

/// Surface temperature the thermostat aims at for a request of `level`
/// percent in a cabin at `cabin_c`: an absolute temperature for the level,
/// from [`LOWEST_LEVEL_TARGET_C`] just above 0 to [`FULL_LEVEL_TARGET_C`]
/// at 100, whatever the cabin (a seat heater has no cooling, so never
/// below the cabin). Levels at or below 0 mean "off", which leaves the seat
/// at the cabin temperature.
pub fn target_temperature(cabin_c: f64, level: f64) -> f64 {
    if level <= 0.0 {
        cabin_c
    } else {
        let level = level.min(100.0) / 100.0;
        let target = LOWEST_LEVEL_TARGET_C + (FULL_LEVEL_TARGET_C - LOWEST_LEVEL_TARGET_C) * level;
        target.max(cabin_c)
    }
}
