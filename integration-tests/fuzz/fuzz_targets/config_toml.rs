//! Node `config.toml` parse + validation (`regio_node::config::Config::parse`). A config
//! that parses is rendered as `regio init` writes it and must read back equal.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use regio_node::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("config.toml");
    if let Ok(config) = Config::parse(text, path) {
        let rendered = config.render();
        match Config::parse(&rendered, path) {
            Ok(back) => assert_eq!(back, config, "render does not read back equal:\n{rendered}"),
            Err(e) => panic!("render does not parse: {e}\n{rendered}"),
        }
    }
});
