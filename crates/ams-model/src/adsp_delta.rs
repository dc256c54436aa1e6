//! The four Amazon DSP hourly delta datasets (`adsp-traffic`, `adsp-conversion`,
//! `adsp-clickstream`, `adsp-rich-media`): the same semantics as the sponsored-ads deltas
//! (dedupe on `idempotency_id`, then sum; negatives are corrections).
//!
//! The natural key is what splits delivery: advertiser, campaign (DSP "order"), ad group
//! ("line item"), creative, flight where the dataset has one, and the supply, site, deal,
//! geography and device dimensions, with the hour. Names and descriptive attributes of those
//! ids (advertiser name, country and time zone, creative name, size, type and language, the
//! deal's name, the DSP entity id) are carried into the rollup as they come with a key's first
//! delta, like `match_type` of sp-traffic: a renamed creative must not split its totals.
//!
//! Money is in the advertiser's currency; fees and costs are separate columns and are summed
//! as sent. Amazon advises waiting about five days before comparing DSP totals with its
//! reports (late invalid-traffic corrections arrive as negative deltas).

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::columns::{col, req, Column, ColumnKind, ColumnSink, Columns};
use crate::delta::{delta_dataset, offset_text, DeltaRecord, DeltaSpec};
use crate::{values, DatasetId, TimeWindow};

delta_dataset! {
    /// `adsp-traffic`: impressions, clicks, costs and fees.
    AdspTraffic = AdspTraffic {
        dims: [adgroup_id, creative_id, flight_id, supply_source_name, site, placement_name,
               deal_id, deal_type, proposal_id, country, region, device],
        attrs: [advertiser_name, advertiser_country, advertiser_timezone, dsp_entity_id, creative_name,
                creative_language, creative_size, creative_type, deal],
        longs: [gross_impressions, impressions, invalid_impressions, measurable_impressions,
                viewable_impressions, clicks],
        decimals: [agency_fee, amazon_dsp_audience_fee, amazon_dsp_console_fee, supply_cost, total_cost],
    }
}

delta_dataset! {
    /// `adsp-conversion`: purchases, units and sales (views and clicks attributed), new-to-brand
    /// and brand-halo variants, app subscriptions.
    AdspConversion = AdspConversion {
        dims: [adgroup_id, creative_id, supply_source_name, site, placement_name,
               deal_id, deal_type, proposal_id, country, region, device],
        attrs: [advertiser_name, advertiser_country, advertiser_timezone, dsp_entity_id, creative_name,
                creative_language, creative_size, creative_type, deal],
        longs: [
            units_sold, new_to_brand_units_sold, total_units_sold, total_new_to_brand_units_sold,
            purchases, purchases_views, purchases_clicks, new_to_brand_purchases,
            new_to_brand_purchases_views, new_to_brand_purchases_clicks, total_purchases,
            total_purchases_views, total_purchases_clicks, total_new_to_brand_purchases,
            total_new_to_brand_purchases_views, total_new_to_brand_purchases_clicks,
            app_subscription_sign_up_free_trial_clicks, app_subscription_sign_up_free_trial,
            app_subscription_sign_up_free_trial_views, new_to_brand_purchases_brand_halo_clicks,
            new_to_brand_purchases_brand_halo, new_to_brand_purchases_brand_halo_views,
            app_subscription_sign_up_paid_clicks, app_subscription_sign_up_paid,
            app_subscription_sign_up_paid_views, purchases_brand_halo_clicks, purchases_brand_halo,
            purchases_brand_halo_views, app_subscription_sign_up_clicks, app_subscription_sign_up,
            app_subscription_sign_up_views, units_sold_clicks, units_sold_promoted_clicks,
        ],
        decimals: [sales, new_to_brand_product_sales, total_sales, total_new_to_brand_product_sales,
                   sales_clicks],
    }
}

delta_dataset! {
    /// `adsp-clickstream`: on-Amazon engagement (detail page views, add to cart/list, ...) and
    /// off-Amazon conversion events.
    AdspClickstream = AdspClickstream {
        dims: [adgroup_id, creative_id, supply_source_name, site, placement_name,
               deal_id, deal_type, proposal_id, country, region, device],
        attrs: [advertiser_name, advertiser_country, advertiser_timezone, dsp_entity_id, creative_name,
                creative_language, creative_size, creative_type, deal],
        longs: [
            add_to_cart, add_to_cart_clicks, add_to_cart_views, add_to_list, add_to_list_clicks,
            add_to_list_views, detail_page_views, detail_page_view_clicks, detail_page_view_views,
            subscribe_and_save, subscribe_and_save_clicks, subscribe_and_save_views,
            total_add_to_cart, total_add_to_cart_clicks, total_add_to_cart_views, total_add_to_list,
            total_add_to_list_clicks, total_add_to_list_views, total_detail_page_view_clicks,
            total_detail_page_views, total_detail_page_view_views, total_subscribe_and_save_clicks,
            total_subscribe_and_save, total_subscribe_and_save_views, add_to_watchlist_clicks,
            add_to_watchlist, add_to_watchlist_views, video_downloads_clicks, video_downloads,
            video_downloads_views, downloaded_video_plays_clicks, downloaded_video_plays,
            downloaded_video_plays_views, play_trailers_clicks, play_trailers, play_trailers_views,
            video_streams_clicks, video_streams, video_streams_views, rentals_clicks, rentals,
            rentals_views, skill_invocation_clicks, skill_invocation, skill_invocation_views,
            total_new_to_brand_dpv_clicks, total_new_to_brand_dpvs, total_new_to_brand_dpv_views,
            total_product_review_page_visits_clicks, total_product_review_page_visits,
            total_product_review_page_visits_views, brand_searches_clicks, brand_searches,
            brand_searches_views, click_to_apply_clicks, click_to_apply, click_to_apply_views,
            off_amazon_other_clicks, off_amazon_other, off_amazon_other_views,
            off_amazon_page_view_clicks, off_amazon_page_views, off_amazon_page_view_views,
            off_amazon_search_clicks, off_amazon_search, off_amazon_search_views,
            off_amazon_contact_clicks, off_amazon_contact, off_amazon_contact_views,
            off_amazon_checkout_clicks, off_amazon_checkout, off_amazon_checkout_views,
            off_amazon_lead_clicks, off_amazon_lead, off_amazon_lead_views, off_amazon_signup_views,
            off_amazon_mobile_app_first_start_clicks, off_amazon_mobile_app_starts,
            off_amazon_mobile_app_first_start_views, off_amazon_subscribe_clicks,
            off_amazon_subscribe, off_amazon_subscribe_views,
            off_amazon_add_to_shopping_cart_clicks,
            // Amazon's published sample spells this key `off_am_amazon_add_to_shopping_cart`
            // (its schema table does not): both spellings are read.
            off_amazon_add_to_shopping_cart | "off_am_amazon_add_to_shopping_cart",
            off_amazon_add_to_shopping_cart_views, off_amazon_purchases_clicks, off_amazon_purchases,
            off_amazon_purchases_views, off_amazon_application_clicks, off_amazon_application,
            off_amazon_application_views, off_amazon_clicks, off_amazon_views,
            product_review_page_visits_clicks, product_review_page_visits,
            product_review_page_visits_views, new_to_brand_detail_page_view_clicks,
            new_to_brand_detail_page_views, new_to_brand_detail_page_view_views,
        ],
        decimals: [off_amazon_product_sales],
    }
}

delta_dataset! {
    /// `adsp-rich-media`: audio and video ad interactions.
    AdspRichMedia = AdspRichMedia {
        dims: [adgroup_id, creative_id, supply_source_name, site, placement_name,
               deal_id, deal_type, proposal_id, country, region, device],
        attrs: [advertiser_name, advertiser_country, advertiser_timezone, dsp_entity_id, creative_name,
                creative_language, creative_size, creative_type, deal],
        longs: [
            audio_ad_companion_banner_clicks, audio_ad_companion_banner_views, audio_ad_completions,
            audio_ad_first_quartile, audio_ad_midpoint, audio_ad_mute, audio_ad_pause,
            audio_ad_progression, audio_ad_resume, audio_ad_rewind, audio_ad_skip, audio_ad_start,
            audio_ad_third_quartile, audio_ad_unmute, audio_ad_views, video_ad_complete,
            video_ad_first_quartile, video_ad_midpoint, video_ad_mute, video_ad_pause,
            video_ad_resume, video_ad_start, video_ad_third_quartile, video_ad_unmute,
        ],
        decimals: [],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_counts_match_amazons_schema_tables() {
        assert_eq!(AdspTraffic::SPEC.metrics.len(), 11);
        assert_eq!(AdspConversion::SPEC.metrics.len(), 38);
        assert_eq!(AdspClickstream::SPEC.metrics.len(), 100);
        assert_eq!(AdspRichMedia::SPEC.metrics.len(), 24);
        // Dimensions (27 in the traffic table less dataset_id and idempotency_id) all stored.
        assert_eq!(AdspTraffic::SPEC.columns.len() - AdspTraffic::SPEC.metrics.len(), 25 + 1 + 2);
    }
}
