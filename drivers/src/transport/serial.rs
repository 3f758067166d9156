//! Serial transport (RS232 to a PI30 inverter at 2400 8N1, VE.Direct at 19200 8N1) through
//! tokio-serial. The port is opened exclusively (TIOCEXCL), so a second process cannot interleave
//! bytes with ours.

use std::time::Duration;

use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, SerialStream, StopBits};

use crate::link::{LinkError, StreamLink};

/// Open `path` at `baud`, 8 data bits, no parity, 1 stop bit, no flow control.
pub fn open(path: &str, baud: u32) -> Result<StreamLink<SerialStream>, LinkError> {
    let stream = tokio_serial::new(path, baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .timeout(Duration::from_millis(100))
        .open_native_async()
        .map_err(|e| LinkError::Unavailable(format!("cannot open {path}: {e}")))?;
    Ok(StreamLink::new(stream))
}
