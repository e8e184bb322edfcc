//! Vehicle identification numbers for a fleet: 17 characters from the VIN
//! alphabet (no I, O or Q) with the check digit in position 9, derived from
//! a prefix and the vehicle's index, so that the same fleet always has the
//! same VINs and two shards of one fleet never share one.
//!
//! Layout: positions 1–8 the prefix (manufacturer code and descriptor,
//! padded with `0`), 9 the check digit, 10 the model year (`T`, 2026), 11
//! the plant (`F`, fleet), 12–17 the serial number (index + 1).

/// Most vehicles one prefix can number (six serial digits).
pub const MAX_VEHICLES: u64 = 999_999;
/// Longest prefix: the manufacturer code and the vehicle descriptor.
pub const MAX_PREFIX: usize = 8;

/// Weight of each position in the check-digit sum (49 CFR 565.15).
const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// The value a VIN character counts for in the check digit.
fn transliterate(c: u8) -> Option<u32> {
    Some(match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A' | b'J' => 1,
        b'B' | b'K' | b'S' => 2,
        b'C' | b'L' | b'T' => 3,
        b'D' | b'M' | b'U' => 4,
        b'E' | b'N' | b'V' => 5,
        b'F' | b'W' => 6,
        b'G' | b'P' | b'X' => 7,
        b'H' | b'Y' => 8,
        b'R' | b'Z' => 9,
        _ => return None,
    })
}

/// The check digit of a 17-character VIN (its own position 9 ignored).
pub fn check_digit(vin: &[u8; 17]) -> char {
    let sum: u32 = vin
        .iter()
        .zip(WEIGHTS)
        .map(|(&c, w)| transliterate(c).unwrap_or(0) * w)
        .sum();
    match sum % 11 {
        10 => 'X',
        d => char::from_digit(d, 10).unwrap_or('0'),
    }
}

/// True for a well-formed VIN: 17 VIN-alphabet characters whose position 9
/// is the check digit.
pub fn is_valid(vin: &str) -> bool {
    let Ok(bytes) = <[u8; 17]>::try_from(vin.as_bytes()) else {
        return false;
    };
    bytes.iter().all(|&c| transliterate(c).is_some()) && char::from(bytes[8]) == check_digit(&bytes)
}

/// Checks a prefix: 1 to 8 characters of the VIN alphabet.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX {
        return Err(format!(
            "`{prefix}`: a VIN prefix has 1 to {MAX_PREFIX} characters"
        ));
    }
    if let Some(c) = prefix.bytes().find(|&c| transliterate(c).is_none()) {
        return Err(format!(
            "`{prefix}`: `{}` is not a VIN character (digits and capital letters except I, O, Q)",
            char::from(c)
        ));
    }
    Ok(())
}

/// The VIN of vehicle `index` (from 0) of the fleet with `prefix` (checked
/// with [`check_prefix`]; `index` below [`MAX_VEHICLES`]).
pub fn derive(prefix: &str, index: u64) -> String {
    let mut vin = [b'0'; 17];
    vin[..prefix.len()].copy_from_slice(prefix.as_bytes());
    vin[9] = b'T';
    vin[10] = b'F';
    let serial = format!("{:06}", index + 1);
    vin[11..].copy_from_slice(serial.as_bytes());
    vin[8] = check_digit(&vin) as u8;
    String::from_utf8_lossy(&vin).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_vin_has_the_check_digit_the_rule_computes() {
        // The worked example of the check-digit rule: 1M8GDM9A_KP042788
        // has check digit X.
        let example = *b"1M8GDM9AXKP042788";
        assert_eq!(check_digit(&example), 'X');
        assert!(is_valid("1M8GDM9AXKP042788"));
        assert!(!is_valid("1M8GDM9A1KP042788"), "wrong check digit");
        assert!(!is_valid("1M8GDM9AXKP04278"), "16 characters");
        assert!(!is_valid("1M8GDM9AXKP04278O"), "the letter O");
    }

    #[test]
    fn derived_vins_are_valid_distinct_and_the_same_every_time() {
        let vins: Vec<String> = (0..2000).map(|i| derive("WTCUZ", i)).collect();
        for v in &vins {
            assert!(is_valid(v), "{v}");
            assert!(v.starts_with("WTCUZ000"), "{v}");
        }
        let unique: std::collections::BTreeSet<_> = vins.iter().collect();
        assert_eq!(unique.len(), vins.len());
        assert_eq!(derive("WTCUZ", 0), vins[0]);
        assert!(vins[0].ends_with("TF000001"), "{}", vins[0]);
    }

    #[test]
    fn bad_prefixes_say_what_is_wrong() {
        assert!(check_prefix("WTCUZ").is_ok());
        assert!(check_prefix("").unwrap_err().contains("1 to 8"));
        assert!(check_prefix("ABCDEFGHJ").unwrap_err().contains("1 to 8"));
        let e = check_prefix("WIN").unwrap_err();
        assert!(e.contains("`I`"), "{e}");
        assert!(check_prefix("wtc").unwrap_err().contains("`w`"));
    }
}
