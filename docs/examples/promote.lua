local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("all") end,
  -- The default rule, and at most 2 points more of the traffic sent to review than now.
  promote = function(eval)
    if not eval.default.promote then return false, eval.default.reason end
    local share = eval.projected_review_share
    if share and share.candidate > share.live + 0.02 then
      return false, string.format("would send %.1f%% of the traffic to review instead of %.1f%%",
                                  100 * share.candidate, 100 * share.live)
    end
    return true, eval.default.reason
  end,
}
