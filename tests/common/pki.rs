//! A throwaway CA made with rcgen: PEM files of the CA, a server certificate
//! for localhost / 127.0.0.1, and a client certificate.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};

/// PEM files of a CA, a server certificate for localhost / 127.0.0.1, and a
/// client certificate, all in a fresh directory.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("retryd-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca_key = KeyPair::generate().expect("CA key");
        // Distinct subject names: a leaf whose subject equals its issuer's
        // looks self-signed to BoringSSL (grpcio), whatever signed it.
        let named = |names: Vec<String>, cn: &str| {
            let mut p = CertificateParams::new(names).expect("params");
            p.distinguished_name = DistinguishedName::new();
            p.distinguished_name.push(DnType::CommonName, cn);
            p
        };
        let mut ca_params = named(Vec::new(), "retryd test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let ca = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, file: &str| {
            let key = KeyPair::generate().expect("key");
            let cert = named(names, file).signed_by(&key, &ca).expect("sign");
            std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).expect("write cert");
            std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem())
                .expect("write key");
        };
        leaf(vec!["localhost".into(), "127.0.0.1".into()], "server");
        leaf(vec!["worker".into()], "client");
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write CA");
        Pki { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file)).expect("read PEM")
    }

    pub fn config(&self, client_ca: bool) -> String {
        let p = |f: &str| format!("{:?}", self.path(f).display().to_string());
        let mut c = format!(
            "[server]\ntls_cert = {}\ntls_key = {}\n",
            p("server.pem"),
            p("server.key")
        );
        if client_ca {
            c.push_str(&format!("tls_client_ca = {}\n", p("ca.pem")));
        }
        c
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
