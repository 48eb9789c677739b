//! build.rs's decision that the Docker tests can run, with the real engine:
//! an engine without the test image (most laptops) must skip them, as no
//! engine does, instead of failing the first one.
use crate::dockerdb;

#[path = "../build.rs"]
#[allow(dead_code)]
mod build_rs;

use build_rs::{Docker, docker_state};

#[test]
fn a_missing_image_never_counts_as_ready() {
    let state = docker_state("textrescue-no-such-image:never-built");
    assert_ne!(state, Docker::Ready);
    // With an engine (the tests were built with one and the image), the
    // missing image is what stops them.
    if cfg!(has_docker) && docker_state(&dockerdb::image()) == Docker::Ready {
        assert_eq!(state, Docker::NoImage);
    }
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn the_test_image_is_ready() {
    assert_eq!(docker_state(&dockerdb::image()), Docker::Ready);
}
