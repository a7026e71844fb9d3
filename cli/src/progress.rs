//! Progress bars for long work (indicatif), on stderr, shown only to a person: hidden when
//! stdout or stderr is not a terminal (a script, a pipe, CI) and with `--json`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether a bar may be drawn: both streams are terminals and no `--json` was asked.
pub(crate) fn visible(json: bool) -> bool {
    !json && std::io::stderr().is_terminal() && std::io::stdout().is_terminal()
}

/// A bar of `total` units named `unit` (e.g. `lines`), hidden unless [`visible`].
pub(crate) fn bar(total: u64, unit: &str, json: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target(json));
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit}  {{per_sec}}  eta {{eta}}");
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A spinner with `message` for one long request, hidden unless [`visible`].
pub(crate) fn spinner(message: &str, json: bool) -> ProgressBar {
    let s = ProgressBar::with_draw_target(None, target(json));
    s.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    s.set_message(message.to_owned());
    s.enable_steady_tick(Duration::from_millis(120));
    s
}

fn target(json: bool) -> ProgressDrawTarget {
    if visible(json) {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
