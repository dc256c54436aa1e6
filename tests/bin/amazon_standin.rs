//! The Amazon stand-in (tests/support/amazon.rs) as a program, for `scripts/demo`: LwA, the Ads
//! API and Amazon's SNS, on a free port, with one login (the one its consent page signs in as).
//!
//! `amazon-standin <moto url> <refresh token> <profiles JSON array> [<DSP advertisers JSON:
//! {"<agency profile id>": [advertiser, …]}>]`; prints `listening <url>` and serves until
//! killed. Any breach of Amazon's contract is printed on stderr as it happens.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (moto, token, profiles, dsp) = match args.as_slice() {
        [_, moto, token, profiles] => (moto, token, profiles, None),
        [_, moto, token, profiles, dsp] => (moto, token, profiles, Some(dsp)),
        _ => {
            eprintln!("usage: amazon-standin <moto url> <refresh token> <profiles JSON array> [<DSP advertisers JSON object>]");
            std::process::exit(2);
        }
    };
    let parse = |what: &str, text: &str| -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| {
            eprintln!("{what}: {e}");
            std::process::exit(2)
        })
    };
    let profiles: Vec<serde_json::Value> = serde_json::from_value(parse("profiles", profiles)).unwrap_or_default();
    let amazon = ams_tests::amazon::AmazonStandIn::start(moto);
    amazon.add_login(token, profiles);
    // Its consent page (`/ap/oa`) signs in as this login: the dashboard's "Connect with Amazon"
    // works by hand in the demo.
    amazon.consent_as(token);
    if let Some(dsp) = dsp {
        for (agency, advertisers) in parse("DSP advertisers", dsp).as_object().cloned().unwrap_or_default() {
            let agency: u64 = agency.parse().unwrap_or_else(|_| {
                eprintln!("DSP advertisers: {agency} is not a profile id");
                std::process::exit(2)
            });
            amazon.add_dsp_advertisers(token, agency, advertisers.as_array().cloned().unwrap_or_default());
        }
    }
    println!("listening {}", amazon.url);
    let mut reported = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let v = amazon.violations();
        for rule in &v[reported..] {
            eprintln!("CONTRACT BROKEN: {rule}");
        }
        reported = v.len();
    }
}
