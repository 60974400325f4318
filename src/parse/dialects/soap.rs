//! SOAP 1.1 and 1.2 faults.

use super::super::extract::{one_line, MAX_CODE_CHARS, MAX_DEPTH};
use super::super::{BodyVerdict, Dialect, DialectInput, ErrorFields};
use super::markup::{element, element_text, last_element};

/// SOAP faults, in either version, whatever the namespace prefixes:
///
/// - SOAP 1.1: `<Fault><faultcode>soap:Client</faultcode><faultstring>...</faultstring><detail>...</detail></Fault>`;
/// - SOAP 1.2: `<Fault><Code><Value>env:Sender</Value><Subcode><Value>m:MessageTimeout</Value></Subcode></Code><Reason><Text xml:lang="en">...</Text></Reason><Detail>...</Detail></Fault>`.
///
/// The code is the most specific one without its prefix (1.2's innermost
/// `Subcode/Value`, else `Code/Value`; 1.1's `faultcode`), the message
/// `faultstring` or `Reason/Text`; `detail` is never in the message. A
/// fault whose top code blames the sender (`Client`, `Sender`,
/// `VersionMismatch`, `MustUnderstand`, `DataEncodingUnknown`) is
/// [`BodyVerdict::ClientFault`]: SOAP 1.1 sends every fault as 500, and a
/// retry cannot fix a wrong request.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoapFault;

impl Dialect for SoapFault {
    fn parse(&self, input: &DialectInput<'_>) -> Option<ErrorFields> {
        if input.json().is_some() {
            return None;
        }
        let markup = std::str::from_utf8(input.body()).ok();
        let markup = markup.filter(|markup| markup.trim_start().starts_with('<'))?;
        let fault = element(markup, "Fault")?.content;
        let (top, specific, message) = match element(fault, "faultcode") {
            Some(code) => {
                let code = local_name(code.content);
                (code.clone(), code, element_text(fault, "faultstring"))
            }
            None => {
                let code = element(fault, "Code").map(|code| code.content);
                let top = code
                    .and_then(|code| element(code, "Value"))
                    .map(|v| local_name(v.content));
                let specific = code
                    .and_then(|code| last_element(code, "Value", MAX_DEPTH))
                    .map(local_name);
                let reason = element(fault, "Reason").map(|reason| reason.content);
                let text = reason.and_then(|reason| element_text(reason, "Text"));
                (top.unwrap_or_default(), specific.unwrap_or_default(), text)
            }
        };
        let code = Some(specific).filter(|c| !c.is_empty());
        let fields = ErrorFields::of(code, message, Vec::new());
        let blamed = top.split('.').next().unwrap_or_default();
        let client = matches!(
            blamed,
            "Client" | "Sender" | "VersionMismatch" | "MustUnderstand" | "DataEncodingUnknown"
        );
        Some(fields.judged(client.then_some(BodyVerdict::ClientFault)))
    }
}

/// `soap:Client.Auth` -> `Client.Auth`, trimmed and bounded.
fn local_name(qname: &str) -> String {
    let trimmed = qname.trim();
    let local = trimmed.rsplit(':').next().unwrap_or(trimmed);
    one_line(local, MAX_CODE_CHARS)
}
