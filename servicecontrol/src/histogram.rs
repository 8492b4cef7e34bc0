//! Histograms for latency and size metrics in reports.
//! googleapis: google/api/servicecontrol/v1/distribution.proto.

/// distribution.proto `Distribution` (without the `exemplars = 10` field).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Distribution {
    #[prost(int64, tag = "1")]
    pub count: i64,
    #[prost(double, tag = "2")]
    pub mean: f64,
    #[prost(double, tag = "3")]
    pub minimum: f64,
    #[prost(double, tag = "4")]
    pub maximum: f64,
    #[prost(double, tag = "5")]
    pub sum_of_squared_deviation: f64,
    #[prost(int64, repeated, tag = "6")]
    pub bucket_counts: Vec<i64>,
    #[prost(oneof = "distribution::BucketOption", tags = "7, 8, 9")]
    pub bucket_option: Option<distribution::BucketOption>,
}

/// Types nested in `Distribution`.
pub mod distribution {
    /// distribution.proto `Distribution.LinearBuckets`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LinearBuckets {
        #[prost(int32, tag = "1")]
        pub num_finite_buckets: i32,
        #[prost(double, tag = "2")]
        pub width: f64,
        #[prost(double, tag = "3")]
        pub offset: f64,
    }

    /// distribution.proto `Distribution.ExponentialBuckets` (what ESPv2 uses).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExponentialBuckets {
        #[prost(int32, tag = "1")]
        pub num_finite_buckets: i32,
        #[prost(double, tag = "2")]
        pub growth_factor: f64,
        #[prost(double, tag = "3")]
        pub scale: f64,
    }

    /// distribution.proto `Distribution.ExplicitBuckets`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExplicitBuckets {
        #[prost(double, repeated, tag = "1")]
        pub bounds: Vec<f64>,
    }

    /// distribution.proto `Distribution.bucket_option` oneof.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum BucketOption {
        #[prost(message, tag = "7")]
        LinearBuckets(LinearBuckets),
        #[prost(message, tag = "8")]
        ExponentialBuckets(ExponentialBuckets),
        #[prost(message, tag = "9")]
        ExplicitBuckets(ExplicitBuckets),
    }
}
