//! Plausible ranges of the BMV's and the MPPT's text fields as the decoders name them (see
//! [`crate::ranges`]).

use super::battery::{
    CHARGE_RESISTANCE_MAX_FACTOR, CURRENT_NOISE_A, EMF_EMPTY, EMF_SPAN, MIDPOINT_DEVIATION_PCT,
    SEED_CHARGED_FACTOR, SEED_CUMULATIVE_FACTOR, SEED_CYCLE_V_PER_BLOCK, SEED_CYCLES,
    SEED_EXTRA_SYNCS, SEED_MAX_AUX_V, SEED_MAX_V_PER_BLOCK, SEED_MIN_AUX_V, SEED_MIN_V_PER_BLOCK,
    SEED_SECONDS_SINCE_FULL, VOLTAGE_NOISE_V,
};
use super::bmv::{AuxInput, BmvModel};
use super::charger::{Charger, EFFICIENCY, Stage};
use super::mppt::{
    DAYS_PER_SEQUENCE, MpptModel, NOISE_A, NOISE_V, NOISE_VPV, SEED_MAX_POWER_YESTERDAY_W,
    SEED_TOTAL_KWH, SEED_YESTERDAY_KWH, VPV_DARK,
};
use crate::ranges::{FieldRange, HISTORY_ALLOWANCE_DAYS};

const SECONDS_PER_DAY: f64 = 86_400.0;
/// Largest value of a 16-bit time-to-go (minutes) the BMV sends.
const TTG_MAX_MIN: f64 = (u16::MAX - 1) as f64;

/// The smallest and largest of `v * i` over the two intervals.
fn product_bounds((vlo, vhi): (f64, f64), (ilo, ihi): (f64, f64)) -> (f64, f64) {
    let corners = [vlo * ilo, vlo * ihi, vhi * ilo, vhi * ihi];
    let lo = corners.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

impl BmvModel {
    /// The temperature its sensor reports, if it has one (what a bridge forwards).
    pub fn battery_temperature_c(&self) -> Option<f64> {
        match self.aux {
            AuxInput::Temperature => self.battery.temperature_c,
            _ => None,
        }
    }

    /// Every numeric field of the main and history blocks.
    pub fn ranges(&self) -> Vec<FieldRange> {
        let b = &self.battery;
        let s = self.monitor_settings();
        let n = b.nominal_v / 12.0;
        let cap = s.capacity_ah;
        let days = HISTORY_ALLOWANCE_DAYS;

        // Current: the net of the configured charge and load, with sensor noise.
        let net = b.charge_a - b.load_a;
        let (i_lo, i_hi) = (net - CURRENT_NOISE_A, net + CURRENT_NOISE_A);
        // Voltage: open-circuit voltage from empty to full plus the drop (or rise, with the
        // resistance growing towards full while charging) over the internal resistance.
        let r = b.internal_resistance_ohm;
        let r_net = if net > 0.0 {
            r * CHARGE_RESISTANCE_MAX_FACTOR
        } else {
            r
        };
        let emf_lo = n * EMF_EMPTY;
        let emf_hi = n * (EMF_EMPTY + EMF_SPAN);
        let (drop_lo, drop_hi) = if net > 0.0 {
            (net * r, net * r_net)
        } else {
            (net * r, net * r)
        };
        let v_lo = (emf_lo + drop_lo - VOLTAGE_NOISE_V).max(0.0);
        let v_hi = emf_hi + drop_hi + VOLTAGE_NOISE_V;
        let (p_lo, p_hi) = product_bounds((v_lo, v_hi), (i_lo, i_hi));

        // Time to go: only while discharging faster than the threshold, at most the charge
        // above the discharge floor at the smallest such current.
        let discharging = net + CURRENT_NOISE_A < -s.current_threshold_a;
        let ttg = if discharging {
            let remaining = (1.0 - s.discharge_floor / 100.0).max(0.0) * cap;
            FieldRange::new(
                "time_to_go",
                "min",
                0.0,
                (remaining / (-net - CURRENT_NOISE_A) * 60.0).min(TTG_MAX_MIN),
            )
        } else {
            FieldRange::new("time_to_go", "min", 0.0, TTG_MAX_MIN)
        }
        .widen(1.0)
        .clip(0.0, TTG_MAX_MIN)
        .or(-1.0, -1.0);

        // History: seeded values of a used battery, or what has accumulated since (counters
        // only grow, Ah drawn only falls), plus HISTORY_ALLOWANCE_DAYS days of growth: a full
        // cycle a day, the present current around the clock for the energy counters.
        let h = &b.history;
        let grown = |seeded: f64, now: f64, growth: f64| seeded.max(now) + growth;
        let cycles_hi = grown(SEED_CYCLES.1, f64::from(h.cycles), days);
        let syncs_lo = SEED_CYCLES.0 + SEED_EXTRA_SYNCS.0;
        // While charging at full the model synchronises again every second.
        let syncs_growth = if net > 0.0 {
            days * SECONDS_PER_DAY
        } else {
            days
        };
        let syncs_hi = grown(
            SEED_CYCLES.1 + SEED_EXTRA_SYNCS.1,
            f64::from(h.synchronisations),
            syncs_growth,
        );
        let cumulative_lo = (-cap * 0.5 * (SEED_CYCLES.1 + 1.0) * SEED_CUMULATIVE_FACTOR.1)
            .min(h.cumulative_ah)
            - days * cap;
        let cumulative_hi = -cap * 0.5 * (SEED_CYCLES.0 + 1.0) * SEED_CUMULATIVE_FACTOR.0;
        let cycle_kwh = cap * 0.5 * SEED_CYCLE_V_PER_BLOCK * n / 1000.0;
        let day_kwh = (cap * v_hi / 1000.0).max(i_lo.abs().max(i_hi.abs()) * v_hi * 24.0 / 1000.0);
        let discharged = (
            SEED_CYCLES.0.floor() * cycle_kwh,
            grown(SEED_CYCLES.1 * cycle_kwh, h.discharged_kwh, days * day_kwh),
        );
        let charged = (
            discharged.0 * SEED_CHARGED_FACTOR,
            grown(
                SEED_CYCLES.1 * cycle_kwh * SEED_CHARGED_FACTOR,
                h.charged_kwh,
                days * day_kwh,
            ),
        );
        let full_discharges_hi = grown(0.0, f64::from(h.full_discharges), days);
        let low_alarms_hi = grown(0.0, f64::from(h.low_voltage_alarms), days);
        let high_alarms_hi = grown(0.0, f64::from(h.high_voltage_alarms), days);
        let since_full_hi = grown(
            SEED_SECONDS_SINCE_FULL.1,
            h.seconds_since_full as f64,
            days * SECONDS_PER_DAY,
        );

        let mut out = vec![
            FieldRange::new("battery_voltage", "V", v_lo, v_hi).widen(0.001),
            FieldRange::new("battery_current", "A", i_lo, i_hi).widen(0.001),
            FieldRange::new("battery_power", "W", p_lo, p_hi).widen(1.0),
            FieldRange::new("consumed_ah", "Ah", -cap, 0.0)
                .widen(0.001)
                .clip(f64::NEG_INFINITY, 0.0),
            FieldRange::new("state_of_charge", "%", 0.0, 100.0),
            ttg,
            FieldRange::new("deepest_discharge", "Ah", -cap, 0.0)
                .widen(0.001)
                .clip(f64::NEG_INFINITY, 0.0),
            FieldRange::new("last_discharge", "Ah", -cap, 0.0)
                .widen(0.001)
                .clip(f64::NEG_INFINITY, 0.0),
            FieldRange::new("average_discharge", "Ah", -cap, 0.0)
                .widen(0.001)
                .clip(f64::NEG_INFINITY, 0.0),
            FieldRange::new("charge_cycles", "", SEED_CYCLES.0, cycles_hi),
            FieldRange::new("full_discharges", "", 0.0, full_discharges_hi),
            FieldRange::new("cumulative_ah_drawn", "Ah", cumulative_lo, cumulative_hi).widen(0.001),
            FieldRange::new(
                "min_battery_voltage",
                "V",
                // the extremes recorded so far (under an earlier environment) stay
                (n * SEED_MIN_V_PER_BLOCK.0)
                    .min(v_lo)
                    .min(b.history.min_voltage_v),
                n * SEED_MIN_V_PER_BLOCK.1,
            )
            .widen(0.001),
            FieldRange::new(
                "max_battery_voltage",
                "V",
                n * SEED_MAX_V_PER_BLOCK.0,
                (n * SEED_MAX_V_PER_BLOCK.1)
                    .max(v_hi)
                    .max(b.history.max_voltage_v),
            )
            .widen(0.001),
            FieldRange::new("seconds_since_full_charge", "s", 0.0, since_full_hi),
            FieldRange::new("automatic_syncs", "", syncs_lo, syncs_hi),
            FieldRange::new("low_voltage_alarms", "", 0.0, low_alarms_hi),
            FieldRange::new("high_voltage_alarms", "", 0.0, high_alarms_hi),
            FieldRange::new("discharged_energy", "kWh", discharged.0, discharged.1).widen(0.01),
            FieldRange::new("charged_energy", "kWh", charged.0, charged.1).widen(0.01),
        ];
        match self.aux {
            AuxInput::None => {}
            AuxInput::Temperature => {
                if let Some(t) = b.temperature_c {
                    out.push(FieldRange::exactly("battery_temperature", "°C", t.round()));
                }
            }
            AuxInput::Starter => {
                let aux = b.aux_voltage_v;
                out.push(FieldRange::exactly("starter_voltage", "V", aux).widen(0.001));
                out.push(
                    FieldRange::new(
                        "min_starter_voltage",
                        "V",
                        SEED_MIN_AUX_V.0.min(aux),
                        SEED_MIN_AUX_V.1,
                    )
                    .widen(0.001),
                );
                out.push(
                    FieldRange::new(
                        "max_starter_voltage",
                        "V",
                        SEED_MAX_AUX_V.0,
                        SEED_MAX_AUX_V.1.max(aux),
                    )
                    .widen(0.001),
                );
            }
            AuxInput::Midpoint => {
                let dev = MIDPOINT_DEVIATION_PCT / 100.0;
                out.push(
                    FieldRange::new(
                        "mid_point_voltage",
                        "V",
                        v_lo / 2.0 * (1.0 - dev),
                        v_hi / 2.0 * (1.0 + dev),
                    )
                    .widen(0.001),
                );
                out.push(
                    FieldRange::new(
                        "mid_point_deviation",
                        "%",
                        -MIDPOINT_DEVIATION_PCT,
                        MIDPOINT_DEVIATION_PCT,
                    )
                    .widen(0.1),
                );
            }
        }
        out
    }
}

impl MpptModel {
    /// Every numeric field of the text block. `battery_temperatures`: temperatures a
    /// remote-sense bridge may write (they move the temperature-compensated set-points).
    pub fn ranges(&self, battery_temperatures: &[f64]) -> Vec<FieldRange> {
        let c = &self.charger;
        let s = self.settings.charge();
        let n = c.nominal_v / 12.0;
        let days = HISTORY_ALLOWANCE_DAYS;

        // The highest charge set-point over the stages and the temperatures it may see.
        let mut temps = vec![self.env.ambient_c];
        temps.extend(battery_temperatures.iter().copied());
        temps.extend(self.remote.temperature_c());
        let target_hi = temps
            .iter()
            .flat_map(|&t| {
                [Stage::Absorption, Stage::Float].map(|st| Charger::stage_target(&s, st, t))
            })
            .fold(f64::NEG_INFINITY, f64::max);
        let i_max = s.max_current_a.max(0.0);
        // The load output (switched on or off through the control API) at its set current.
        let load_out = if self.config.load_output {
            self.env.load_output_a.max(0.0)
        } else {
            0.0
        };
        let loads = self.env.battery_load_a.max(0.0) + load_out;
        let emf_lo = n * EMF_EMPTY;
        let emf_hi = n * (EMF_EMPTY + EMF_SPAN);
        // At most the set-point at the battery posts plus the cable drop at full current
        // (remote voltage sense regulates the posts); at least the discharged battery under
        // the loads.
        let v_lo = (emf_lo - loads * c.internal_resistance_ohm).max(0.0) - NOISE_V;
        let v_hi = (target_hi + i_max * c.cable_resistance_ohm).max(emf_hi) + NOISE_V;

        // PV: the panel's peak, a fixed PV power or an irradiance set through the control API.
        let peak = self.config.panel_peak_w.max(0.0);
        let mut pv_max = peak;
        if let Some(p) = self.env.pv_power_override_w {
            pv_max = pv_max.max(p);
        }
        if let Some(irr) = self.env.irradiance_w_m2 {
            pv_max = pv_max.max(peak * irr / 1000.0);
        }
        // Output power: the charger current limit at the highest voltage, and the PV power
        // converted at the estimated voltage of the previous second (the voltage can have risen
        // since, at most from the lowest to the highest battery voltage).
        let v_est_lo = v_lo.max(n * 8.0);
        let out_max = (i_max * v_hi).min(pv_max * EFFICIENCY * v_hi / v_est_lo);
        let ppv_max = out_max / EFFICIENCY;
        let day_kwh = out_max * SECONDS_PER_DAY / 3.6e6;
        let vmp = self.config.panel_vmp_v;
        let voc = self.config.panel_voc_v.max(vmp);

        // Yields: seeded, or what has accumulated since, plus HISTORY_ALLOWANCE_DAYS days at
        // the highest output power.
        let y = &self.yields;
        let nonneg = |r: FieldRange| r.clip(0.0, f64::INFINITY);
        let mut out = vec![
            FieldRange::new("battery_voltage", "V", v_lo, v_hi).widen(0.001),
            FieldRange::new("battery_current", "A", -load_out, i_max + NOISE_A)
                .widen(0.001)
                .clip(-load_out, f64::INFINITY),
            FieldRange::exactly("panel_voltage", "V", VPV_DARK)
                .or((vmp - NOISE_VPV).max(0.0), voc + NOISE_VPV)
                .widen(0.001),
            nonneg(FieldRange::new("panel_power", "W", 0.0, ppv_max).widen(1.0)),
            FieldRange::new(
                "yield_total",
                "kWh",
                SEED_TOTAL_KWH.0,
                SEED_TOTAL_KWH.1.max(y.total_kwh) + days * day_kwh,
            )
            .widen(0.01),
            nonneg(FieldRange::new("yield_today", "kWh", 0.0, y.today_kwh + day_kwh).widen(0.01)),
            nonneg(
                FieldRange::new(
                    "max_power_today",
                    "W",
                    0.0,
                    out_max.max(y.max_power_today_w),
                )
                .widen(1.0),
            ),
            nonneg(
                FieldRange::new(
                    "yield_yesterday",
                    "kWh",
                    0.0,
                    SEED_YESTERDAY_KWH
                        .1
                        .max(day_kwh)
                        .max(y.today_kwh + day_kwh)
                        .max(y.yesterday_kwh),
                )
                .widen(0.01),
            ),
            nonneg(
                FieldRange::new(
                    "max_power_yesterday",
                    "W",
                    0.0,
                    SEED_MAX_POWER_YESTERDAY_W
                        .1
                        .max(out_max)
                        .max(y.max_power_today_w)
                        .max(y.max_power_yesterday_w),
                )
                .widen(1.0),
            ),
            FieldRange::new("day_sequence", "", 0.0, f64::from(DAYS_PER_SEQUENCE - 1)),
        ];
        if self.config.load_output {
            out.push(nonneg(
                FieldRange::new("load_current", "A", 0.0, load_out).widen(0.001),
            ));
        }
        out
    }
}
