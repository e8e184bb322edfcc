//! User consent, hawkBit's confirmation flow: the poll offers
//! `confirmationBase/{id}` instead of a deploymentBase; the device answers
//! `confirmed` (the server then offers the deploymentBase, so the next poll
//! comes soon) or `denied` (the action keeps waiting on the server).
//!
//! Who decides is [`Confirmation`]: confirm at once, deny, or wait for the
//! user, whose consent is a poll asked for with [`crate::Waker::poll_now`].
//! A denial and the announcement that the user is awaited are made once
//! per action, not at every poll.

use crate::OtaError;
use crate::client::{Confirmation, OtaState};
use crate::ddi::{ConfirmationBase, ConfirmationFeedback, Consent};
use crate::server::{Core, post_feedback};

impl Core {
    /// Answers the confirmation request at `href` as the policy says.
    pub(crate) fn handle_confirmation(&mut self, href: &str) -> Result<(), OtaError> {
        let cb: ConfirmationBase = self.get_json(href, "confirmationBase")?;
        let id = cb.id.clone();
        let what = cb
            .confirmation
            .as_ref()
            .map(|d| {
                d.chunks
                    .iter()
                    .map(|c| {
                        let sub = c.subsystem().unwrap_or("unnamed");
                        match &c.version {
                            Some(v) => format!("{sub} {v}"),
                            None => sub.to_owned(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let answer = match self.cfg.confirmation {
            Confirmation::Auto => Some((
                Consent::Confirmed,
                "confirmed automatically ([ota] confirm = \"auto\")",
            )),
            Confirmation::User if self.consent => {
                Some((Consent::Confirmed, "confirmed by the user"))
            }
            Confirmation::User => None,
            Confirmation::Deny => Some((
                Consent::Denied,
                "denied by the device's policy ([ota] confirm = \"deny\")",
            )),
        };
        let Some((consent, why)) = answer else {
            if self.awaiting_user.as_deref() != Some(id.as_str()) {
                self.awaiting_user = Some(id.clone());
                self.emit(
                    OtaState::Waiting,
                    Some(id),
                    format!("{what}: waiting for the user to confirm (poll now to confirm)"),
                    None,
                );
            }
            return Ok(());
        };
        if consent == Consent::Denied && self.denied.contains(&id) {
            return Ok(()); // answered already; the server keeps it waiting
        }
        let url = self
            .cfg
            .controller_url(&["confirmationBase", &id, "feedback"]);
        let fb = ConfirmationFeedback::new(consent, vec![why.to_owned()]);
        post_feedback(&self.http, &url, &fb, &self.cfg.limits)?;
        self.awaiting_user = None;
        match consent {
            Consent::Confirmed => {
                self.hurry = true;
                self.emit(
                    OtaState::Waiting,
                    Some(id),
                    format!("{what}: {why}; waiting for the deployment"),
                    None,
                );
            }
            Consent::Denied => {
                self.denied.insert(id.clone());
                self.emit(OtaState::Idle, Some(id), format!("{what}: {why}"), None);
            }
        }
        Ok(())
    }
}
