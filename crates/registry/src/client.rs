//! The HTTP side of the distribution protocol: endpoints, the insecure-registry policy,
//! authentication, and requests for manifests and blobs.
//!
//! Written on `reqwest` rather than `oci-client` because berth needs what that crate leaves to
//! its callers: dockerd's HTTPS-then-HTTP fallback for insecure registries, ranged resume of a
//! broken blob download that keeps feeding one running decompressor, and the registry's own
//! error codes (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, …) to turn into Docker's messages.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::{header, Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use crate::auth::{parse_challenge, AuthConfig, Challenge, TokenResponse};
use crate::RegistryError;
use berth_image::{media, ImageRef};

const DOCKER_HUB_DOMAIN: &str = "docker.io";
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// Registries that may be reached over plain HTTP: CIDR ranges or `host[:port]` names.
#[derive(Debug, Clone)]
pub struct InsecureRegistries {
    nets: Vec<(IpAddr, u8)>,
    hosts: Vec<String>,
}

impl InsecureRegistries {
    /// The policy dockerd starts with: 127.0.0.0/8 and ::1, plus the configured entries.
    pub fn new(entries: &[String]) -> Self {
        let mut nets = vec![
            ("127.0.0.0".parse().unwrap(), 8),
            ("::1".parse().unwrap(), 128),
        ];
        let mut hosts = Vec::new();
        for e in entries {
            let e = e
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            match e
                .split_once('/')
                .and_then(|(ip, len)| Some((ip.parse::<IpAddr>().ok()?, len.parse::<u8>().ok()?)))
            {
                Some(net) => nets.push(net),
                None => hosts.push(e.to_string()),
            }
        }
        InsecureRegistries { nets, hosts }
    }

    /// Whether `domain` (`host[:port]`) is insecure. Names are checked as given and, when they
    /// are IP literals, against the CIDR ranges; `localhost` counts as loopback.
    pub fn contains(&self, domain: &str) -> bool {
        if self.hosts.iter().any(|h| h == domain) {
            return true;
        }
        let host = host_of(domain);
        if self.hosts.iter().any(|h| h == host) {
            return true;
        }
        let ip: Option<IpAddr> = if host == "localhost" {
            Some("127.0.0.1".parse().unwrap())
        } else {
            host.parse().ok()
        };
        ip.is_some_and(|ip| self.nets.iter().any(|(net, len)| in_net(ip, *net, *len)))
    }

    /// The list `docker info` shows under "Insecure Registries".
    pub fn describe(&self) -> Vec<String> {
        let mut out: Vec<String> = self.hosts.clone();
        out.extend(
            self.nets
                .iter()
                .filter(|(ip, _)| ip.is_ipv4())
                .map(|(ip, len)| format!("{ip}/{len}")),
        );
        out.extend(
            self.nets
                .iter()
                .filter(|(ip, _)| ip.is_ipv6())
                .map(|(ip, len)| format!("{ip}/{len}")),
        );
        out
    }
}

fn host_of(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(domain)
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len.min(32))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len.min(128))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The registry client shared by every pull and push of the daemon.
pub struct RegistryClient {
    http: reqwest::Client,
    insecure: InsecureRegistries,
    /// The scheme that answered for each domain, so the HTTPS probe is paid once.
    schemes: Mutex<HashMap<String, &'static str>>,
    /// How many times a blob transfer is attempted before giving up (dockerd: 5).
    pub attempts: u32,
    /// The wait before retry N is `N × retry_delay`.
    pub retry_delay: Duration,
}

impl RegistryClient {
    pub fn new(insecure: InsecureRegistries) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::limited(10))
            .no_proxy()
            .build()
            .map_err(|e| RegistryError::Other(format!("building HTTP client: {e}")))?;
        Ok(RegistryClient {
            http,
            insecure,
            schemes: Mutex::new(HashMap::new()),
            attempts: 5,
            retry_delay: Duration::from_millis(500),
        })
    }

    pub fn insecure(&self) -> &InsecureRegistries {
        &self.insecure
    }

    /// Opens a session on `reference`'s repository, pinging `/v2/` to learn the scheme and the
    /// auth challenge. `push` asks for push rights as well as pull.
    pub async fn session(
        &self,
        reference: &ImageRef,
        auth: Option<AuthConfig>,
        push: bool,
    ) -> Result<Session<'_>, RegistryError> {
        let domain = reference.domain();
        let host = if domain == DOCKER_HUB_DOMAIN {
            DOCKER_HUB_ENDPOINT
        } else {
            domain
        };
        let cached = self.schemes.lock().unwrap().get(host).copied();
        let candidates: Vec<&'static str> = match cached {
            Some(s) => vec![s],
            None if self.insecure.contains(domain) => vec!["https", "http"],
            None => vec!["https"],
        };
        let mut last_err = None;
        for scheme in candidates {
            let base = format!("{scheme}://{host}");
            let url = format!("{base}/v2/");
            match self.http.get(&url).send().await {
                Ok(resp) => {
                    self.schemes
                        .lock()
                        .unwrap()
                        .insert(host.to_string(), scheme);
                    let challenge = if resp.status() == StatusCode::UNAUTHORIZED {
                        resp.headers()
                            .get(header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(parse_challenge)
                    } else {
                        None
                    };
                    return Ok(Session {
                        client: self,
                        base,
                        repo: reference.path().to_string(),
                        auth,
                        challenge,
                        actions: if push { "pull,push" } else { "pull" },
                        token: Mutex::new(None),
                    });
                }
                Err(e) => last_err = Some(transport_error("Get", &url, &e)),
            }
        }
        Err(last_err.expect("at least one candidate scheme"))
    }
}

impl RegistryClient {
    /// Checks `auth` against its registry (`serveraddress`, Docker Hub when empty), the way
    /// `docker login` does: ping `/v2/`, then answer its challenge with the credentials.
    pub async fn login(&self, auth: &AuthConfig) -> Result<(), RegistryError> {
        let server = normalize_server(&auth.serveraddress);
        let probe = ImageRef::parse(&format!("{server}/login-probe")).map_err(|e| {
            RegistryError::Other(format!("invalid registry address {server:?}: {e}"))
        })?;
        let session = self.session(&probe, Some(auth.clone()), false).await?;
        let url = format!("{}/v2/", session.base);
        let mut req = self.http.get(&url);
        match &session.challenge {
            None => return Ok(()),
            Some(Challenge::Basic) => {
                if let Some(b) = auth.basic() {
                    req = req.header(header::AUTHORIZATION, b);
                }
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let mut token_url = url::Url::parse(realm).map_err(|e| {
                    RegistryError::Other(format!("invalid auth realm {realm:?}: {e}"))
                })?;
                if let Some(s) = service {
                    token_url.query_pairs_mut().append_pair("service", s);
                }
                let mut treq = self.http.get(token_url.as_str());
                if let Some(b) = auth.basic() {
                    treq = treq.header(header::AUTHORIZATION, b);
                }
                let resp = treq
                    .send()
                    .await
                    .map_err(|e| transport_error("Get", token_url.as_str(), &e))?;
                if !resp.status().is_success() {
                    return Err(RegistryError::Unauthorized(format!(
                        "Get \"{token_url}\": unauthorized: incorrect username or password"
                    )));
                }
                let token: TokenResponse = resp
                    .json()
                    .await
                    .map_err(|e| RegistryError::Other(format!("reading token response: {e}")))?;
                let token = token.into_token().ok_or_else(|| {
                    RegistryError::Other("token response carried no token".into())
                })?;
                req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error("Get", &url, &e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(RegistryError::Unauthorized(format!(
                "login attempt to {url} failed with status: {}",
                status_text(resp.status())
            )))
        }
    }
}

/// `https://index.docker.io/v1/` and friends name Docker Hub; otherwise strip scheme and path.
pub fn normalize_server(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or("");
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => {
            DOCKER_HUB_DOMAIN.to_string()
        }
        other => other.to_string(),
    }
}

/// A repository on a registry, with the credentials and token to reach it.
pub struct Session<'a> {
    client: &'a RegistryClient,
    base: String,
    repo: String,
    auth: Option<AuthConfig>,
    challenge: Option<Challenge>,
    actions: &'static str,
    token: Mutex<Option<String>>,
}

/// A fetched manifest or index.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: berth_image::Digest,
}

impl<'a> Session<'a> {
    pub fn client(&self) -> &'a RegistryClient {
        self.client
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repo, path)
    }

    /// Resolves a `Location` header against the registry's base URL.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    async fn bearer_token(&self, scope_repo: &[&str]) -> Result<Option<String>, RegistryError> {
        let Some(Challenge::Bearer { realm, service, .. }) = &self.challenge else {
            return Ok(None);
        };
        if let Some(t) = self.token.lock().unwrap().clone() {
            return Ok(Some(t));
        }
        let mut url = url::Url::parse(realm)
            .map_err(|e| RegistryError::Other(format!("invalid auth realm {realm:?}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for repo in scope_repo {
                q.append_pair("scope", &format!("repository:{repo}:{}", self.actions));
            }
        }
        let mut req = self.client.http.get(url.as_str());
        if let Some(basic) = self.auth.as_ref().and_then(AuthConfig::basic) {
            req = req.header(header::AUTHORIZATION, basic);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error("Get", url.as_str(), &e))?;
        if !resp.status().is_success() {
            return Err(RegistryError::Unauthorized(format!(
                "failed to fetch anonymous token: unexpected status from GET request to {url}: {}",
                status_text(resp.status())
            )));
        }
        let token: TokenResponse = resp
            .json()
            .await
            .map_err(|e| RegistryError::Other(format!("reading token response: {e}")))?;
        let token = token
            .into_token()
            .ok_or_else(|| RegistryError::Other("token response carried no token".into()))?;
        *self.token.lock().unwrap() = Some(token.clone());
        Ok(Some(token))
    }

    /// Sends a request built by `build`, adding credentials as the registry's challenge asks.
    /// `extra_scopes` names other repositories the token must cover (cross-repo mounts).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
        extra_scopes: &[&str],
    ) -> Result<Response, RegistryError> {
        let mut req = build(self.client.http.request(method.clone(), url));
        match &self.challenge {
            Some(Challenge::Basic) => {
                if let Some(b) = self.auth.as_ref().and_then(AuthConfig::basic) {
                    req = req.header(header::AUTHORIZATION, b);
                }
            }
            Some(Challenge::Bearer { .. }) => {
                let mut scopes = vec![self.repo.as_str()];
                scopes.extend_from_slice(extra_scopes);
                if let Some(t) = self.bearer_token(&scopes).await? {
                    req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
                }
            }
            None => {}
        }
        req.send()
            .await
            .map_err(|e| transport_error(method_name(&method), url, &e))
    }

    /// Fetches a manifest or index by tag or digest, verifying the digest when one was asked for.
    pub async fn fetch_manifest(
        &self,
        reference: &str,
        image: &ImageRef,
    ) -> Result<FetchedManifest, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let accept = [
            media::DOCKER_MANIFEST,
            media::DOCKER_MANIFEST_LIST,
            media::OCI_MANIFEST,
            media::OCI_INDEX,
        ]
        .join(", ");
        let resp = self
            .send(
                Method::GET,
                &url,
                |r| r.header(header::ACCEPT, accept.clone()),
                &[],
            )
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(error_from_response(resp, image, "Get", &url).await);
        }
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
            .unwrap_or_default();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error("Get", &url, &e))?
            .to_vec();
        let digest = berth_image::Digest::of(&bytes);
        if let Ok(expected) = berth_image::Digest::parse(reference) {
            if expected != digest {
                return Err(RegistryError::Verification(format!(
                    "manifest verification failed for digest {expected}"
                )));
            }
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// The repository's tags (`GET /v2/<name>/tags/list`), following `Link` pages.
    pub async fn list_tags(&self, image: &ImageRef) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url("tags/list");
        let mut tags = Vec::new();
        // A registry that pages forever is cut off rather than followed.
        for _ in 0..1000 {
            let resp = self.send(Method::GET, &url, |r| r, &[]).await?;
            if !resp.status().is_success() {
                return Err(error_from_response(resp, image, "Get", &url).await);
            }
            let next = resp
                .headers()
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|l| {
                    l.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                });
            let page: TagList = resp
                .json()
                .await
                .map_err(|e| RegistryError::Other(format!("reading the tag list: {e}")))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) if !n.is_empty() => url = self.absolute(&n),
                _ => break,
            }
        }
        Ok(tags)
    }

    /// Starts a blob download at `offset` (a ranged request when non-zero).
    pub async fn get_blob(
        &self,
        digest: &berth_image::Digest,
        offset: u64,
        image: &ImageRef,
    ) -> Result<Response, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self
            .send(
                Method::GET,
                &url,
                |r| {
                    if offset > 0 {
                        r.header(header::RANGE, format!("bytes={offset}-"))
                    } else {
                        r
                    }
                },
                &[],
            )
            .await?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp, image, "Get", &url).await);
        }
        Ok(resp)
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "Get",
        Method::HEAD => "Head",
        Method::PUT => "Put",
        Method::POST => "Post",
        Method::PATCH => "Patch",
        Method::DELETE => "Delete",
        _ => "Request",
    }
}

fn status_text(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

/// Describes a failed connection the way Go's HTTP client does, which is what Docker users see:
/// `Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused`.
pub(crate) fn transport_error(method: &str, url: &str, e: &reqwest::Error) -> RegistryError {
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    let detail = if e.is_connect() {
        let hostport = url::Url::parse(url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_default();
        let lower = cause.to_ascii_lowercase();
        let why = if lower.contains("refused") {
            "connect: connection refused".to_string()
        } else if lower.contains("timed out") {
            "i/o timeout".to_string()
        } else {
            cause.clone()
        };
        format!("dial tcp {hostport}: {why}")
    } else if e.is_timeout() {
        "net/http: request canceled (Client.Timeout exceeded while awaiting headers)".into()
    } else {
        cause
    };
    RegistryError::Transport(format!("{method} \"{url}\": {detail}"))
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    errors: Vec<RegistryErrorBody>,
}

#[derive(Debug, Deserialize)]
struct RegistryErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Turns a registry's error answer into the message dockerd gives for it.
pub(crate) async fn error_from_response(
    resp: Response,
    image: &ImageRef,
    method: &str,
    url: &str,
) -> RegistryError {
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    let first = serde_json::from_slice::<ErrorEnvelope>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    // distribution's errcode.Error: "<code description, lowercased>: <message>".
    let cause = first.as_ref().map(|e| {
        format!(
            "{}: {}",
            e.code.to_ascii_lowercase().replace('_', " "),
            e.message
        )
    });
    match (status, first.as_ref().map(|e| e.code.as_str())) {
        (_, Some("MANIFEST_UNKNOWN")) => RegistryError::NotFound(format!("manifest for {} not found: {}", image.familiar(), cause.unwrap())),
        (_, Some("NAME_UNKNOWN")) => RegistryError::NotFound(format!("repository {} not found: {}", image.familiar_name(), cause.unwrap())),
        (_, Some("BLOB_UNKNOWN")) => RegistryError::NotFound(format!("{method} \"{url}\": {}", cause.unwrap())),
        (_, Some("DENIED")) => RegistryError::Unauthorized(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {}",
            image.familiar_name(),
            cause.unwrap()
        )),
        (StatusCode::UNAUTHORIZED, _) => {
            RegistryError::Unauthorized(format!("{method} \"{url}\": {}", cause.unwrap_or_else(|| "unauthorized: authentication required".into())))
        }
        (StatusCode::NOT_FOUND, _) => RegistryError::NotFound(format!("manifest for {} not found: manifest unknown", image.familiar())),
        _ => RegistryError::Other(format!(
            "{method} \"{url}\": unexpected status from {} request to {url}: {}",
            method.to_ascii_uppercase(),
            cause.unwrap_or_else(|| status_text(status))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_insecure_by_default() {
        let p = InsecureRegistries::new(&[]);
        assert!(p.contains("127.0.0.1:5000"));
        assert!(p.contains("127.3.4.5"));
        assert!(p.contains("localhost:5000"));
        assert!(p.contains("[::1]:5000"));
        assert!(!p.contains("registry.example.com"));
        assert!(!p.contains("10.0.0.1:5000"));
        let p = InsecureRegistries::new(&["10.0.0.0/8".into(), "myreg:5000".into()]);
        assert!(p.contains("10.1.2.3:443"));
        assert!(p.contains("myreg:5000"));
        assert!(!p.contains("myreg:5001"));
        assert_eq!(
            p.describe(),
            vec!["myreg:5000", "127.0.0.0/8", "10.0.0.0/8", "::1/128"]
        );
    }
}
