//! The built-in toast renderer: each `notice` as a small toast that goes away
//! after its duration. Notices are already de-duplicated by the engine; one that
//! `replaces` the previous one (the same moment) takes its place.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use web_sys::{Element, HtmlElement};

use super::browser::timer_ms;
use super::runtime::Runtime;
use crate::engine::notify::Notice;
use crate::engine::resilience::Event;

/// Most toasts shown at once; the oldest goes first.
const MAX_SHOWN: usize = 3;

const STACK_STYLE: &str = "position:fixed;left:50%;bottom:24px;transform:translateX(-50%);z-index:2147483000;\
display:flex;flex-direction:column;gap:8px;align-items:center;pointer-events:none";
const TOAST_STYLE: &str = "max-width:min(90vw,480px);padding:10px 16px;border-radius:10px;color:#fff;\
font:500 15px/1.4 system-ui,sans-serif;box-shadow:0 4px 16px rgba(0,0,0,.3);background:";

fn colour(severity: &str) -> &'static str {
    match severity {
        "warning" => "#b26a00",
        "error" => "#b3261e",
        _ => "#2d3a4a",
    }
}

/// Shown toasts, each with the timer that removes it.
struct Shown {
    stack: Element,
    /// The stack was made here (and is removed with the renderer).
    own_stack: bool,
    /// Each toast and its timer, oldest first.
    toasts: Vec<(Element, Timeout)>,
}

impl Shown {
    fn add(this: &Rc<RefCell<Self>>, notice: &Notice) {
        let (text, severity, duration_ms) = (&notice.text, notice.severity.as_str(), notice.duration_ms);
        let Ok(mut shown) = this.try_borrow_mut() else { return };
        if notice.replaces {
            if let Some((previous, _)) = shown.toasts.pop() {
                previous.remove();
            }
        }
        let Some(toast) = shown.stack.owner_document().and_then(|d| d.create_element("div").ok()) else { return };
        toast.set_class_name(&format!("pr-toast pr-toast-{severity}"));
        let _ = toast.set_attribute("role", "status");
        let _ = toast.set_attribute("style", &format!("{TOAST_STYLE}{}", colour(severity)));
        toast.set_text_content(Some(text));
        if shown.stack.append_child(&toast).is_err() {
            return;
        }
        let weak = Rc::downgrade(this);
        let gone = toast.clone();
        let timer = Timeout::new(timer_ms(duration_ms), move || {
            if let Some(shown) = weak.upgrade() {
                if let Ok(mut shown) = shown.try_borrow_mut() {
                    shown.toasts.retain(|(t, _)| t != &gone);
                }
            }
            gone.remove();
        });
        shown.toasts.push((toast, timer));
        while shown.toasts.len() > MAX_SHOWN {
            let (oldest, _) = shown.toasts.remove(0);
            oldest.remove();
        }
    }

    fn clear(&mut self) {
        for (toast, _) in self.toasts.drain(..) {
            toast.remove();
        }
        if self.own_stack {
            self.stack.remove();
        }
    }
}

/// Renders notices into `container` (or a stack fixed at the bottom of the page);
/// returns the hook id to remove, and the state to clear, when the renderer is stopped.
pub fn render(runtime: &Rc<Runtime>, container: Option<HtmlElement>) -> Option<(u32, impl FnOnce())> {
    let (stack, own_stack) = match container {
        Some(container) => (Element::from(container), false),
        None => {
            let document = web_sys::window()?.document()?;
            let stack = document.create_element("div").ok()?;
            stack.set_class_name("pr-toasts");
            stack.set_attribute("style", STACK_STYLE).ok()?;
            let _ = stack.set_attribute("aria-live", "polite");
            document.body()?.append_child(&stack).ok()?;
            (stack, true)
        }
    };
    let shown = Rc::new(RefCell::new(Shown { stack, own_stack, toasts: Vec::new() }));
    let weak = Rc::downgrade(&shown);
    let id = runtime.add_hook(Rc::new(move |event: &Event| {
        if let (Event::Notice(notice), Some(shown)) = (event, weak.upgrade()) {
            Shown::add(&shown, notice);
        }
    }))?;
    Some((id, move || {
        if let Ok(mut shown) = shown.try_borrow_mut() {
            shown.clear();
        }
    }))
}
