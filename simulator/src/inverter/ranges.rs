//! Plausible ranges of the inverter's QPIGS fields as the decoders name them (see
//! [`crate::ranges`]). QMOD and QPIWS carry no numbers. The PI30 layout of unit 0, and on MAX
//! units the QET/QLT energy counters; the MAX variant's other extra fields (PV2, QPIGS2) and
//! parallel units (QPGSn) have no ranges yet.

use super::InverterModel;
use super::config::Variant;
use super::settings::Settings;
use super::state::{
    BUS_NOISE_GAIN, FREQ_NOISE_SD, HEAT_SINK_IDLE_C, HEAT_SINK_PER_RATED_C, HEAT_SINK_START_C,
    IDLE_VA_SHARE, INV_EFF, LOAD_NOISE_SD, MPP_LOW, PF_NOISE_SD, PV_NOISE_SD, SEED_LOAD_ENERGY_KWH,
    SEED_PV_ENERGY_KWH, VOLT_NOISE_SD, bus_base_v, ocv, pv_share, r_base, unit_share,
};
use crate::ranges::{FieldRange, HISTORY_ALLOWANCE_DAYS, NOISE_SIGMAS};

impl InverterModel {
    /// Every numeric QPIGS field of unit 0, with the values this unit can report.
    pub fn ranges(&self) -> Vec<FieldRange> {
        let cfg = &self.cfg;
        let s = &self.settings;
        let env = &self.env;
        let k = NOISE_SIGMAS;
        let n = cfg.parallel_units.max(1) as usize;
        let share = unit_share(n, 0);

        // AC side: the grid as configured, the inverter's own output in battery mode.
        let grid_v = env.grid_voltage;
        let grid_hz = env.grid_frequency;
        let vn = k * VOLT_NOISE_SD;
        // Frequency noise is scaled 0.3 on the grid and 0.1 on the inverter's own output.
        let grid_hz_n = 0.3 * k * FREQ_NOISE_SD;
        let own_hz_n = 0.1 * k * FREQ_NOISE_SD;
        let own_hz = f64::from(s.frequency_hz);

        // Load and power factor.
        let load_lo = (env.load_w * (1.0 - k * LOAD_NOISE_SD)).max(0.0) * share;
        let load_hi = env.load_w * (1.0 + k * LOAD_NOISE_SD) * share;
        let load_hi_total = env.load_w * (1.0 + k * LOAD_NOISE_SD);
        let pf_lo = (env.load_pf - k * PF_NOISE_SD).clamp(0.1, 1.0);
        let pf_hi = (env.load_pf + k * PF_NOISE_SD).clamp(0.1, 1.0);
        let idle_va = f64::from(cfg.rated_va) * IDLE_VA_SHARE;
        let va_lo = (load_lo / pf_hi).max(idle_va);
        let va_hi = (load_hi / pf_lo).max(idle_va).max(load_hi);
        let rated_w = f64::from(cfg.rated_w);
        let rated_va = f64::from(cfg.rated_va);
        let pct_lo = (load_lo * 100.0 / rated_w)
            .max(va_lo * 100.0 / rated_va)
            .floor();
        let pct_hi = (load_hi * 100.0 / rated_w)
            .max(va_hi * 100.0 / rated_va)
            .ceil();

        // Battery: open-circuit curve from empty to full, less the drop of the largest discharge
        // current (the whole load from the battery at a voltage below empty), up to the highest
        // charge set-point.
        let ocv_empty = ocv(cfg, 0.0);
        let ocv_full = ocv(cfg, 1.0);
        let discharge_max_total = load_hi_total / INV_EFF / (0.95 * ocv_empty);
        let adjust = 0.05 * f64::from(s.battery_adjust_steps);
        let batt_lo = ocv_empty - discharge_max_total * r_base(cfg) + adjust;
        let batt_hi = Settings::volts(s.bulk_dv)
            .max(Settings::volts(s.float_dv))
            .max(ocv_full)
            + adjust;
        let charge_max = s.total_max_charge_a();

        // PV: the day curve's peak (or a fixed PV power) with its noise, at a voltage between
        // the lowest maximum-power point and open circuit.
        let pv_curve_max = env.pv_peak_w * (1.0 + k * PV_NOISE_SD) * pv_share(0);
        let pv_max = env
            .pv_override_w
            .map_or(pv_curve_max, |w| w.max(pv_curve_max));
        let vmp_lo = cfg.pv_vmp() * MPP_LOW;
        let voc = cfg.pv_voc();

        let heat_lo = env.ambient_c + HEAT_SINK_START_C.min(HEAT_SINK_IDLE_C);
        let heat_hi = env.ambient_c
            + HEAT_SINK_IDLE_C
            + HEAT_SINK_PER_RATED_C * (load_hi + charge_max * batt_hi) / rated_w;
        let bus = bus_base_v(cfg);
        let bus_n = BUS_NOISE_GAIN * vn;

        let nonneg = |r: FieldRange| r.clip(0.0, f64::INFINITY);
        let mut ranges = vec![
            nonneg(
                FieldRange::new("ac_input_voltage", "V", grid_v - vn, grid_v + vn)
                    .or_zero()
                    .widen(0.1),
            ),
            nonneg(
                FieldRange::new(
                    "ac_input_frequency",
                    "Hz",
                    grid_hz - grid_hz_n,
                    grid_hz + grid_hz_n,
                )
                .or_zero()
                .widen(0.1),
            ),
            nonneg(
                FieldRange::new("ac_output_voltage", "V", grid_v - vn, grid_v + vn)
                    .or(cfg.rated_output_v - 0.3 * vn, cfg.rated_output_v + 0.3 * vn)
                    .or_zero()
                    .widen(0.1),
            ),
            nonneg(
                FieldRange::new(
                    "ac_output_frequency",
                    "Hz",
                    grid_hz - grid_hz_n,
                    grid_hz + grid_hz_n,
                )
                .or(own_hz - own_hz_n, own_hz + own_hz_n)
                .or_zero()
                .widen(0.1),
            ),
            nonneg(
                FieldRange::new("ac_output_apparent_power", "VA", va_lo, va_hi)
                    .or_zero()
                    .widen(1.0),
            ),
            nonneg(
                FieldRange::new("ac_output_active_power", "W", load_lo, load_hi)
                    .or_zero()
                    .widen(1.0),
            ),
            nonneg(
                FieldRange::new("ac_output_load", "%", pct_lo, pct_hi)
                    .or_zero()
                    .widen(1.0),
            ),
            nonneg(
                FieldRange::new("bus_voltage", "V", bus - bus_n, bus + bus_n)
                    .or_zero()
                    .widen(1.0),
            ),
            FieldRange::new("battery_voltage", "V", batt_lo, batt_hi).widen(0.01),
            nonneg(FieldRange::new("battery_charging_current", "A", 0.0, charge_max).widen(1.0)),
            FieldRange::new("battery_capacity", "%", 0.0, 100.0),
            FieldRange::new("inverter_heat_sink_temperature", "°C", heat_lo, heat_hi).widen(1.0),
            nonneg(
                FieldRange::new("pv_input_current_for_battery", "A", 0.0, pv_max / vmp_lo)
                    .widen(1.0),
            ),
            nonneg(
                FieldRange::new("pv_input_voltage", "V", vmp_lo, voc)
                    .or_zero()
                    .widen(0.1),
            ),
            nonneg(
                FieldRange::new(
                    "battery_voltage_from_scc",
                    "V",
                    batt_lo + 0.05,
                    batt_hi + 0.05,
                )
                .or_zero()
                .widen(0.01),
            ),
            nonneg(
                FieldRange::new(
                    "battery_discharge_current",
                    "A",
                    0.0,
                    discharge_max_total * share,
                )
                .widen(1.0),
            ),
            FieldRange::exactly("rsv1", "", 0.0),
            FieldRange::exactly("rsv2", "", 0.0),
            nonneg(FieldRange::new("pv_input_power", "W", 0.0, pv_max).widen(1.0)),
        ];
        if cfg.variant == Variant::Max {
            // QET/QLT: the seeded lifetime counters plus the allowed days of growth at full PV
            // and full load, in kWh with a resolution of 1 Wh.
            let grow = |w: f64| HISTORY_ALLOWANCE_DAYS * 24.0 * w / 1000.0;
            let (pv_lo, pv_hi) = SEED_PV_ENERGY_KWH;
            let (load_lo, load_hi_kwh) = SEED_LOAD_ENERGY_KWH;
            ranges.push(
                FieldRange::new("pv_energy_total", "kWh", pv_lo, pv_hi + grow(pv_max)).widen(0.001),
            );
            ranges.push(
                FieldRange::new(
                    "load_energy_total",
                    "kWh",
                    load_lo,
                    load_hi_kwh + grow(load_hi),
                )
                .widen(0.001),
            );
        }
        ranges
    }
}
