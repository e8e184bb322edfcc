//! Broker addresses: `mqtt://host[:port]` and `mqtts://host[:port]`. One
//! parser for every MQTT client in the project (the vehicle's link, the
//! twin), so that both accept and refuse the same addresses.

/// A broker address that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("broker URL `{url}`: {reason}")]
pub struct BrokerUrlError {
    /// As given.
    pub url: String,
    /// Why.
    pub reason: String,
}

/// A parsed broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address.
    pub host: String,
    /// Port (1883 or 8883 unless given).
    pub port: u16,
    /// `mqtts://`.
    pub tls: bool,
}

impl BrokerUrl {
    /// Parses `mqtt://host[:port]` or `mqtts://host[:port]` (also `tcp://`,
    /// `ssl://`); a path, user info or query is refused rather than ignored.
    pub fn parse(url: &str) -> Result<Self, BrokerUrlError> {
        let bad = |why: &str| BrokerUrlError {
            url: url.to_owned(),
            reason: why.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected mqtt://host[:port] or mqtts://host[:port]"))?;
        let tls = match scheme {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => return Err(bad(&format!("unknown scheme `{other}` (mqtt, mqtts)"))),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '@', '#']) {
            return Err(bad("only host and port are allowed after the scheme"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, p) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed `[` in host"))?;
            (h, p.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => {
                if tls {
                    8883
                } else {
                    1883
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad(&format!("`{p}` is not a port number")))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports() {
        let u = BrokerUrl::parse("mqtt://broker.local").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("broker.local", 1883, false)
        );
        let u = BrokerUrl::parse("mqtts://iot.example:8884/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("iot.example", 8884, true)
        );
        let u = BrokerUrl::parse("mqtts://[::1]").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8883));
        assert_eq!(u.to_string(), "mqtts://[::1]:8883");
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("broker:1883", "expected mqtt://"),
            ("http://x", "unknown scheme `http`"),
            ("mqtt://:1883", "no host"),
            ("mqtt://x:99999", "`99999` is not a port"),
            ("mqtt://u:p@x", "only host and port"),
            ("mqtt://x/topic", "only host and port"),
        ] {
            let e = BrokerUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(url), "{url}: {e}");
        }
    }
}
