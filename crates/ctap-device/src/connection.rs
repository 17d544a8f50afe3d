//! The seam under every transport: one HID report out, one HID report in.

use std::time::Duration;

use ctaphid_frame::ReportSize;

use crate::Error;

/// A connection that moves whole HID reports: the seam for every transport (hidapi,
/// UDP, the in-process virtual authenticator) and for tests.
///
/// Reports are CTAPHID packets exactly: no report-ID byte (a transport that needs one,
/// like hidapi, adds it itself).
pub trait HidConnection: Send {
    /// Writes one report of exactly [`output_report_size`](Self::output_report_size)
    /// bytes.
    ///
    /// # Errors
    /// [`Error::Disconnected`] if the device is gone, [`Error::Io`] for other failures.
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error>;

    /// Writes several reports in order: `reports` is their concatenation, each
    /// [`output_report_size`](Self::output_report_size) bytes (a whole message, as
    /// [`CtapHidDevice`](crate::CtapHidDevice) sends it). The default writes them one by
    /// one with [`write_report`](Self::write_report), stopping at the first error; a
    /// transport that can hand the OS several at once does (UDP: one segmented send,
    /// so the device wakes once for the whole message, not once per report).
    ///
    /// # Errors
    /// As [`write_report`](Self::write_report); the reports after the failed one are
    /// not written.
    fn write_reports(&mut self, reports: &[u8]) -> Result<(), Error> {
        let size = self.output_report_size().get();
        for report in reports.chunks(size) {
            self.write_report(report)?;
        }
        Ok(())
    }

    /// Reads one report into `buf` (at least
    /// [`input_report_size`](Self::input_report_size) bytes long), waiting at most
    /// `timeout`. Returns `Ok(Some(len))` for a report of `len` bytes, `Ok(None)` if
    /// no report came in time (never an all-zero report). A zero `timeout` does not
    /// wait: it returns a report already received, else `Ok(None)` at once (callers use
    /// it to drop stale input before each request, so it must not sleep).
    ///
    /// # Errors
    /// [`Error::Disconnected`] if the device is gone, [`Error::Io`] for other failures.
    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error>;

    /// The size of the reports the device sends.
    fn input_report_size(&self) -> ReportSize;

    /// The size of the reports the device takes.
    fn output_report_size(&self) -> ReportSize;

    /// Releases the transport (closes the OS handle or socket) ahead of `Drop`. Later
    /// reads and writes fail with [`Error::Disconnected`]. The default does nothing: the
    /// handle is released when the connection is dropped.
    fn close(&mut self) {}
}

impl<C: HidConnection + ?Sized> HidConnection for Box<C> {
    fn write_report(&mut self, report: &[u8]) -> Result<(), Error> {
        (**self).write_report(report)
    }
    fn write_reports(&mut self, reports: &[u8]) -> Result<(), Error> {
        (**self).write_reports(reports)
    }
    fn read_report(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, Error> {
        (**self).read_report(buf, timeout)
    }
    fn input_report_size(&self) -> ReportSize {
        (**self).input_report_size()
    }
    fn output_report_size(&self) -> ReportSize {
        (**self).output_report_size()
    }
    fn close(&mut self) {
        (**self).close();
    }
}
