//! The inverter's energy counters for the control API (see [`crate::energy`]).
//!
//! Integrated after every model step, from the power tokens the live-data reply of the unit's
//! personality carries at that moment ([`PowerTokens`]): QPIGS (+ QPIGS2's PV2 power on MAX
//! units) for `pi30`/`pi30max`, GS for `pi18` (its battery voltage has one decimal where QPIGS
//! has two). `pi17`/`pi16` answer no live data at all; their integrals follow QPIGS so that they
//! are defined. A parallel stack is seen through the unit that answers (unit 0): QPIGS, GS and
//! QET/QLT all speak for it alone, so its counters are the ones told here.
//!
//! | counter | integral of (as reported) | device counter |
//! |---|---|---|
//! | `pv_energy` | PV power: QPIGS `pv_input_power`; MAX `pv1_charging_power` + QPIGS2 `pv2_charging_power`; GS `pv1_input_power` + `pv2_input_power` | QET (MAX): unit 0's lifetime PV energy |
//! | `load_energy` | AC output active power | QLT (MAX): unit 0's lifetime load energy |
//! | `battery_charged_energy` | battery voltage × charging current | none |
//! | `battery_discharged_energy` | battery voltage × discharge current | none |

use super::InverterModel;
use super::config::Protocol;
use super::replies::{Ctx, PowerTokens};
use crate::energy::{
    BATTERY_CHARGED_ENERGY, BATTERY_DISCHARGED_ENERGY, Counter, LOAD_ENERGY, PV_ENERGY,
};

/// The powers a gateway reads from the unit right now, in W, after the reply's rounding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ReportedPowers {
    pub pv_w: f64,
    pub load_w: f64,
    pub charged_w: f64,
    pub discharged_w: f64,
}

impl Ctx<'_> {
    /// The power tokens of the live-data reply this personality sends.
    pub(super) fn power_tokens(&self) -> PowerTokens {
        match self.cfg.protocol {
            Protocol::Pi18 => self.gs_power_tokens(),
            Protocol::Pi30 | Protocol::Pi30Max | Protocol::Pi17 | Protocol::Pi16 => {
                self.qpigs_power_tokens()
            }
        }
    }

    pub(super) fn reported_powers(&self) -> ReportedPowers {
        let (pv_w, load_w, battery_v, charge_a, discharge_a) = self.power_tokens().values();
        ReportedPowers {
            pv_w,
            load_w,
            charged_w: battery_v * charge_a,
            discharged_w: battery_v * discharge_a,
        }
    }
}

impl InverterModel {
    /// Add one model step of `seconds` to the integrals, with the powers after the step.
    pub(super) fn integrate_energy(&mut self, seconds: f64) {
        let p = self.ctx().reported_powers();
        let e = &mut self.energy;
        e.add(PV_ENERGY, p.pv_w, seconds);
        e.add(LOAD_ENERGY, p.load_w, seconds);
        e.add(BATTERY_CHARGED_ENERGY, p.charged_w, seconds);
        e.add(BATTERY_DISCHARGED_ENERGY, p.discharged_w, seconds);
    }

    /// The energy counters (see the module table).
    pub fn energy(&self) -> Vec<Counter> {
        let u = self.ctx().unit(0);
        let e = &self.energy;
        vec![
            Counter::new(PV_ENERGY, Some(u.pv_energy_wh / 1000.0), e),
            Counter::new(LOAD_ENERGY, Some(u.load_energy_wh / 1000.0), e),
            Counter::new(BATTERY_CHARGED_ENERGY, None, e),
            Counter::new(BATTERY_DISCHARGED_ENERGY, None, e),
        ]
    }
}
