//! Prepares the HTTPS client's trust store (see `src/sdk.rs`) at build time: the Amazon Trust Services roots,
//! taken from the compiled-in Mozilla set and PEM-encoded, so that a starting Lambda neither searches the set
//! nor encodes anything. The build fails if the set stops holding exactly one root of each name.

use base64::Engine;

/// The roots' common names, as they appear in their subjects.
const AMAZON_TRUST_ROOTS: [&str; 5] = [
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
];

/// Whether `der` holds `name` as a whole directory string (UTF8String or PrintableString): the length byte
/// before it rules out longer names that start with it ("Amazon Root CA 1" is not "Amazon Root CA 10").
fn names(der: &[u8], name: &str) -> bool {
    const UTF8_STRING: u8 = 0x0c;
    const PRINTABLE_STRING: u8 = 0x13;
    der.windows(name.len() + 2).any(|w| {
        matches!(w[0], UTF8_STRING | PRINTABLE_STRING)
            && usize::from(w[1]) == name.len()
            && &w[2..] == name.as_bytes()
    })
}

fn main() {
    let mut pem = String::new();
    for name in AMAZON_TRUST_ROOTS {
        let holders: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref())
            .filter(|der| names(der, name))
            .collect();
        let [der] = holders[..] else {
            panic!(
                "expected one root named {name:?} in webpki-root-certs, found {}",
                holders.len()
            );
        };
        pem.push_str(&format!("# {name}\n-----BEGIN CERTIFICATE-----\n"));
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("amazon-trust-roots.pem"), pem).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=build.rs");
}
