//! The vehicle panels: driving, battery, motor, ABS, airbags, HVAC, heated
//! seats and the environment the driver controls. Each is a function from the
//! frame's [`View`] to a widget; none reads anything but the view, so they
//! are tested by rendering a hand-made snapshot.

use super::View;
use crate::snapshot::{HEATED_SEATS, SEATS, WHEELS, ZONES};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// A bordered block with a title.
pub fn block(title: impl std::fmt::Display) -> Block<'static> {
    Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" {title} "),
        Style::default().add_modifier(Modifier::BOLD),
    ))
}

/// A number with `prec` decimals right-aligned in `width`, or `—` when the
/// value is unknown.
pub fn num(v: f64, width: usize, prec: usize) -> String {
    if v.is_finite() {
        format!("{v:>width$.prec$}")
    } else {
        format!("{:>width$}", "—")
    }
}

/// A text bar of `width` cells for a fraction in 0..=1.
pub fn bar(frac: f64, width: usize) -> String {
    let f = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = (f * width as f64).round() as usize;
    format!("[{}{}]", "█".repeat(full), "·".repeat(width - full))
}

fn yes(v: f64) -> &'static str {
    match v {
        v if v.is_nan() => "—",
        v if v >= 0.5 => "yes",
        _ => "no",
    }
}

fn marker(selected: bool) -> &'static str {
    if selected { "›" } else { " " }
}

/// Speed, pedals, acceleration, odometer, who drives.
pub fn driving(v: &View) -> Paragraph<'static> {
    let s = &v.snap;
    let accel = s.get("Sim.Driver.AcceleratorPedal");
    let brake = s.get("Sim.Driver.BrakePedal");
    let lines = vec![
        Line::from(vec![
            Span::raw("Vehicle speed "),
            Span::styled(
                num(s.get("Vehicle.Speed"), 6, 1),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(" km/h"),
        ]),
        Line::raw(format!(
            "Accelerator {} {} %",
            bar(accel / 100.0, 10),
            num(accel, 3, 0)
        )),
        Line::raw(format!(
            "Brake       {} {} %",
            bar(brake / 100.0, 10),
            num(brake, 3, 0)
        )),
        Line::raw(format!(
            "Acceleration  {} m/s²",
            num(s.get("Vehicle.Acceleration.Longitudinal"), 6, 2)
        )),
        Line::raw(format!(
            "Odometer      {} km",
            num(s.get("Vehicle.TraveledDistance"), 6, 2)
        )),
        Line::raw(format!(
            "Driver        {}",
            if s.manual { "you (keys)" } else { "automatic" }
        )),
    ];
    Paragraph::new(lines).block(block("Driving"))
}

/// State of charge, electrical values, temperature, recovered energy.
pub fn battery(v: &View) -> Paragraph<'static> {
    let s = &v.snap;
    let soc = s.get("Vehicle.Powertrain.TractionBattery.StateOfCharge.Current");
    let p = "Vehicle.Powertrain.TractionBattery.";
    let lines = vec![
        Line::raw(format!("SOC {} {} %", bar(soc / 100.0, 16), num(soc, 5, 1))),
        Line::raw(format!(
            "Voltage      {} V",
            num(s.get(&format!("{p}CurrentVoltage")), 7, 1)
        )),
        Line::raw(format!(
            "Current      {} A",
            num(s.get(&format!("{p}CurrentCurrent")), 7, 1)
        )),
        Line::raw(format!(
            "Power        {} kW",
            num(s.get(&format!("{p}CurrentPower")) / 1000.0, 7, 2)
        )),
        Line::raw(format!(
            "Temperature  {} °C",
            num(s.get(&format!("{p}Temperature.Average")), 7, 1)
        )),
        Line::raw(format!(
            "Recovered    {} kWh",
            num(s.get("Vehicle.Powertrain.AccumulatedBrakingEnergy"), 7, 3)
        )),
    ];
    Paragraph::new(lines).block(block("Battery"))
}

/// Traction motor: rpm, torque, power, temperatures.
pub fn engine(v: &View) -> Paragraph<'static> {
    let s = &v.snap;
    let p = "Vehicle.Powertrain.ElectricMotor.";
    let running = s.get("Sim.Powertrain.ElectricMotor.IsRunning");
    let lines = vec![
        Line::raw(format!(
            "Rotor        {} rpm",
            num(s.get(&format!("{p}Speed")), 7, 0)
        )),
        Line::raw(format!(
            "Torque       {} Nm",
            num(s.get(&format!("{p}Torque")), 7, 0)
        )),
        Line::raw(format!(
            "Power        {} kW",
            num(s.get(&format!("{p}Power")), 7, 0)
        )),
        Line::raw(format!(
            "Motor temp   {} °C",
            num(s.get(&format!("{p}Temperature")), 7, 1)
        )),
        Line::raw(format!(
            "Coolant      {} °C",
            num(s.get(&format!("{p}CoolantTemperature")), 7, 1)
        )),
        Line::raw(format!(
            "State        {}",
            match running {
                r if r.is_nan() => "—",
                r if r >= 0.5 => "running",
                _ => "off",
            }
        )),
    ];
    Paragraph::new(lines).block(block("Motor"))
}

/// Four wheels and the ABS state.
pub fn abs(v: &View) -> Paragraph<'static> {
    let s = &v.snap;
    let mut lines = vec![Line::raw("     km/h    bar  disc °C")];
    for (wheel, label) in WHEELS {
        lines.push(Line::raw(format!(
            "{label}  {} {} {}",
            num(s.get(&format!("Vehicle.Chassis.Axle.{wheel}.Speed")), 6, 1),
            num(
                s.get(&format!("Sim.Chassis.Axle.{wheel}.Brake.Pressure")),
                6,
                1
            ),
            num(
                s.get(&format!("Sim.Chassis.Axle.{wheel}.Brake.DiscTemperature")),
                8,
                0
            ),
        )));
    }
    let mut state = vec![Span::raw(if s.flag("Vehicle.ADAS.ABS.IsEnabled") {
        "enabled "
    } else {
        "disabled "
    })];
    if s.flag("Vehicle.ADAS.ABS.IsEngaged") {
        state.push(Span::styled("ENGAGED ", Style::default().fg(Color::Yellow)));
    }
    if s.flag("Vehicle.ADAS.ABS.IsError") {
        state.push(Span::styled("ERROR", Style::default().fg(Color::Red)));
    }
    lines.push(Line::from(state));
    Paragraph::new(lines).block(block("ABS"))
}

/// Five seats: occupied, belted, airbag deployed.
pub fn airbag(v: &View) -> Paragraph<'static> {
    let s = &v.snap;
    let mut lines = vec![Line::raw("  Seat       occ. belt airbag")];
    for (i, (seat, label)) in SEATS.iter().enumerate() {
        let p = format!("Vehicle.Cabin.Seat.{seat}.");
        let deployed = s.get(&format!("{p}Airbag.IsDeployed"));
        let bag = match deployed {
            d if d.is_nan() => Span::raw("—"),
            d if d >= 0.5 => Span::styled(
                "DEPLOYED",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            _ => Span::raw("ready"),
        };
        lines.push(Line::from(vec![
            Span::raw(format!(
                "{} {label:<9} {:<4} {:<4} ",
                marker(i == v.seat),
                yes(s.get(&format!("{p}IsOccupied"))),
                yes(s.get(&format!("{p}IsBelted"))),
            )),
            bag,
        ]));
    }
    // The crash disconnect: after a deploying crash the high-voltage
    // circuit stays open until reset.
    let hv = match s.get("Vehicle.Powertrain.TractionBattery.IsPowerConnected") {
        c if c.is_nan() => "—",
        c if c >= 0.5 => "on",
        _ => "OFF",
    };
    let title = format!(
        "Airbags  pulse {} g  HV {hv}",
        num(s.get("Sim.Crash.Pulse"), 0, 1)
    );
    Paragraph::new(lines).block(block(title))
}

/// Three HVAC zones: setpoint, air temperature, fan; A/C and power.
pub fn hvac(v: &View) -> Paragraph<'static> {
    let s = &v.snap;
    let mut lines = vec![Line::raw("  Zone        set   air  fan")];
    for (i, (zone, label)) in ZONES.iter().enumerate() {
        let p = format!("Vehicle.Cabin.HVAC.Station.{zone}.");
        lines.push(Line::raw(format!(
            "{} {label:<9} {} {} {}%",
            marker(i == v.zone),
            num(s.get(&format!("{p}Temperature")), 5, 1),
            num(
                s.get(&format!("Sim.Cabin.HVAC.Station.{zone}.AirTemperature")),
                5,
                1
            ),
            num(s.get(&format!("{p}FanSpeed")), 4, 0),
        )));
    }
    let ac = if s.flag("Vehicle.Cabin.HVAC.IsAirConditioningActive") {
        "on"
    } else {
        "off"
    };
    lines.push(Line::raw(format!(
        "A/C {ac:<3}  cabin {} °C",
        num(s.get("Vehicle.Cabin.HVAC.AmbientAirTemperature"), 5, 1)
    )));
    lines.push(Line::raw(format!(
        "Power {} kW",
        num(s.get("Sim.Cabin.HVAC.Power") / 1000.0, 6, 2)
    )));
    Paragraph::new(lines).block(block("HVAC"))
}

/// Heated seats: level and surface temperature.
pub fn seats(v: &View) -> Paragraph<'static> {
    let s = &v.snap;
    let mut lines = Vec::new();
    for (i, (seat, label)) in SEATS[..HEATED_SEATS].iter().enumerate() {
        lines.push(Line::raw(format!(
            "{} {label} lvl {}% {} °C",
            marker(i == v.seat),
            num(
                s.get(&format!("Vehicle.Cabin.Seat.{seat}.HeatingCooling")),
                4,
                0
            ),
            num(s.get(&format!("Sim.Cabin.Seat.{seat}.Temperature")), 5, 1),
        )));
    }
    lines.push(Line::raw(format!(
        "Power {} W",
        num(s.get("Sim.Cabin.Seat.Heating.Power"), 6, 0)
    )));
    Paragraph::new(lines).block(block("Heated seats"))
}

/// What the driver controls besides the pedals, and the clock.
pub fn environment(v: &View) -> Paragraph<'static> {
    let s = &v.snap;
    let fault = s.get("Sim.Fault.ABS.WheelSensor");
    let fault = match fault {
        f if f.is_nan() => "—",
        f if f < 0.5 => "none",
        f => WHEELS.get(f as usize - 1).map_or("?", |(_, label)| *label),
    };
    let lines = vec![
        Line::raw(format!(
            "Ambient  {} °C (ext {})",
            num(s.get("Sim.Environment.AirTemperature"), 5, 1),
            num(s.get("Vehicle.Exterior.AirTemperature"), 0, 1)
        )),
        Line::raw(format!(
            "Friction {}",
            num(s.get("Sim.Environment.RoadFriction"), 5, 2)
        )),
        Line::raw(format!("Wheel-sensor fault  {fault}")),
        Line::raw(format!(
            "Seat › {}   Zone › {}",
            SEATS[v.seat].1, ZONES[v.zone].1
        )),
        Line::raw(format!(
            "Clock x{} {}",
            v.speed,
            if v.paused { "PAUSED" } else { "running" }
        )),
    ];
    Paragraph::new(lines).block(block("Environment"))
}
