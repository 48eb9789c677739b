//! Reads a pg_dump plain SQL file with sqlparser, the way a reader built on it
//! would have to: the whole file as UTF-8 text, then tokens (`tokenize`) or
//! statements (`parse`). Prints what it counted, or the error it stopped at.
//!
//!     sqlparser-yardstick tokenize FILE
//!     sqlparser-yardstick parse FILE
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Tokenizer;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (mode, path) = match args.as_slice() {
        [_, mode, path] => (mode.as_str(), path.as_str()),
        _ => {
            eprintln!("usage: sqlparser-yardstick tokenize|parse FILE");
            return ExitCode::from(2);
        }
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // sqlparser takes &str: a dump in a server encoding other than UTF-8
    // (LATIN1, SQL_ASCII holding anything) cannot even be handed to it.
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("not UTF-8, sqlparser cannot read it: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dialect = PostgreSqlDialect {};
    match mode {
        "tokenize" => match Tokenizer::new(&dialect, &text).tokenize() {
            Ok(tokens) => println!("{} tokens", tokens.len()),
            Err(e) => {
                eprintln!("tokenizer stopped: {e}");
                return ExitCode::FAILURE;
            }
        },
        "parse" => match Parser::parse_sql(&dialect, &text) {
            Ok(statements) => println!("{} statements", statements.len()),
            Err(e) => {
                eprintln!("parser stopped: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("usage: sqlparser-yardstick tokenize|parse FILE");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
