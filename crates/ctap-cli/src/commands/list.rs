//! `ctap list`: the FIDO devices, usable or not (with the reason), and PC/SC readers
//! with a FIDO card.

use ctap::device::hid;
use serde_json::{Value as Json, json};

use crate::device::{listing, pcsc};
use crate::error::Outcome;
use crate::globals::Global;
use crate::output::{escape, print_json};

pub(crate) fn run(global: &Global) -> Outcome {
    let entries = listing::list_devices()?;
    let smartcards = pcsc::list_entries();
    if global.json {
        let devices: Vec<Json> = entries
            .iter()
            .map(|entry| match entry {
                Ok(info) => device_json(info, None),
                Err(unusable) => device_json(&unusable.info, Some(&unusable.error)),
            })
            .chain(smartcards.into_iter().map(|(_, entry)| entry))
            .collect();
        print_json(&json!({ "devices": devices }));
        return Ok(());
    }
    for (line, _) in &smartcards {
        println!("{line}");
    }
    if entries.is_empty() && smartcards.is_empty() {
        println!(
            "no FIDO security keys found (try `ctap --device virtual info` for the built-in software authenticator)"
        );
        return Ok(());
    }
    for entry in &entries {
        match entry {
            Ok(info) => println!("{}", describe_device(info)),
            Err(unusable) => println!(
                "{}\n    cannot be used: {}",
                describe_device(&unusable.info),
                unusable.error.to_string().replace('\n', "\n    ")
            ),
        }
    }
    Ok(())
}

fn describe_device(info: &hid::HidDeviceInfo) -> String {
    let mut line = format!(
        "{}  {:04x}:{:04x}",
        info.path, info.vendor_id, info.product_id
    );
    for part in [&info.manufacturer, &info.product].into_iter().flatten() {
        line.push_str("  ");
        line.push_str(&escape(part));
    }
    if let Some(serial) = &info.serial_number {
        line.push_str(&format!("  serial {}", escape(serial)));
    }
    if let Some((input, output)) = info.report_sizes {
        line.push_str(&format!(
            "  reports {}/{} bytes in/out",
            input.get(),
            output.get()
        ));
    }
    line
}

fn device_json(info: &hid::HidDeviceInfo, error: Option<&ctap::device::Error>) -> Json {
    json!({
        "path": info.path,
        "vendor_id": info.vendor_id,
        "product_id": info.product_id,
        "manufacturer": info.manufacturer.as_deref().map(escape),
        "product": info.product.as_deref().map(escape),
        "serial_number": info.serial_number.as_deref().map(escape),
        "input_report_size": info.report_sizes.map(|(input, _)| input.get()),
        "output_report_size": info.report_sizes.map(|(_, output)| output.get()),
        "usable": error.is_none(),
        "error": error.map(ToString::to_string),
    })
}
