//! The built-in fallback view: the current frame and the session time, drawn over
//! the video inside the caller's container (which should be positioned, e.g.
//! `position: relative`, and stacked over the video). Also the placeholder image.

use js_sys::Array;
use wasm_bindgen::JsValue;
use web_sys::{Blob, BlobPropertyBag, Element, HtmlElement};

use crate::engine::playback::clock_text;

const ROOT_STYLE: &str = "position:absolute;inset:0;z-index:2;display:flex;align-items:center;\
justify-content:center;overflow:hidden;background:#10151c";
const FRAME_STYLE: &str = "width:100%;height:100%;object-fit:cover";
const LABEL_STYLE: &str = "position:absolute;right:12px;top:12px;padding:4px 10px;border-radius:6px;\
background:rgba(0,0,0,.6);color:#fff;font:600 14px/1.4 system-ui,sans-serif";
const STATUS_STYLE: &str = "position:absolute;left:12px;right:12px;bottom:12px;padding:8px 12px;\
border-radius:6px;background:rgba(0,0,0,.7);color:#fff;text-align:center;font:600 16px/1.4 system-ui,sans-serif";
const TAP_STYLE: &str = "position:absolute;padding:14px 28px;border:0;border-radius:999px;cursor:pointer;\
background:#fff;color:#10151c;font:700 20px/1.2 system-ui,sans-serif";

/// A neutral 16:9 SVG showing the session time: never a broken image.
pub fn placeholder(seconds: f64) -> Option<Blob> {
    let svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='320' height='180' viewBox='0 0 320 180'>\
<rect width='320' height='180' fill='#1d2430'/><text x='160' y='104' fill='#e8edf3' font-family='system-ui,sans-serif' \
font-size='40' text-anchor='middle'>{}</text></svg>",
        clock_text(seconds)
    );
    let bag = BlobPropertyBag::new();
    bag.set_type("image/svg+xml");
    Blob::new_with_str_sequence_and_options(&Array::of1(&JsValue::from_str(&svg)), &bag).ok()
}

/// The view, present in the container while the fallback lasts.
pub struct Overlay {
    root: Element,
    frame: Element,
    label: Element,
    /// The "Tap to resume" button, while the browser refuses to play.
    tap: Element,
    /// A line about the source (an unreadable file), while there is one.
    status: Element,
}

impl Overlay {
    /// Adds the view to `container`; `None` if the DOM refused.
    pub fn show(container: &HtmlElement) -> Option<Self> {
        let document = container.owner_document()?;
        let make = |tag: &str, class: &str, style: &str| -> Option<Element> {
            let e = document.create_element(tag).ok()?;
            e.set_class_name(class);
            e.set_attribute("style", style).ok()?;
            Some(e)
        };
        let root = make("div", "pr-fallback", ROOT_STYLE)?;
        let frame = make("img", "pr-fallback-frame", FRAME_STYLE)?;
        frame.set_attribute("alt", "").ok()?;
        let label = make("div", "pr-fallback-time", LABEL_STYLE)?;
        let tap = make("button", "pr-fallback-tap", TAP_STYLE)?;
        let status = make("div", "pr-fallback-status", STATUS_STYLE)?;
        tap.set_attribute("type", "button").ok()?;
        root.append_child(&frame).ok()?;
        root.append_child(&label).ok()?;
        container.append_child(&root).ok()?;
        Some(Self { root, frame, label, tap, status })
    }

    /// Shows the image at `url` and where it came from (`data-source`).
    pub fn set_frame(&self, url: &str, source: &str) {
        let _ = self.frame.set_attribute("src", url);
        let _ = self.root.set_attribute("data-source", source);
    }

    /// Shows the "Tap to resume" button with `text` (any gesture on the page does).
    pub fn show_tap(&self, text: &str) {
        self.tap.set_text_content(Some(text));
        let _ = self.root.append_child(&self.tap);
    }

    /// Removes the button.
    pub fn hide_tap(&self) {
        self.tap.remove();
    }

    /// Shows `text` as the status line, or removes it.
    pub fn set_status(&self, text: Option<&str>) {
        match text {
            Some(text) => {
                self.status.set_text_content(Some(text));
                let _ = self.root.append_child(&self.status);
            }
            None => self.status.remove(),
        }
    }

    /// Shows the session time.
    pub fn set_time(&self, seconds: f64) {
        self.label.set_text_content(Some(&clock_text(seconds)));
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        self.root.remove();
    }
}
