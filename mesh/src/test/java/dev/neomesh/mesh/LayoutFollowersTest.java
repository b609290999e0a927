package dev.neomesh.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link LayoutRules#withFollowers}: a follower takes its leader's axis when no rule names it and
 * the axis divides it, the first such follower only; a rule naming the follower wins.
 */
class LayoutFollowersTest {
  static final List<LayoutRules.Follower> GQA = List.of(new LayoutRules.Follower("kv_heads", 2, "heads"),
      new LayoutRules.Follower("heads_per_kv", 4, "heads"));

  static String derived(String rules, String mesh) {
    return LayoutRules.parse(rules).withFollowers(GQA, MeshShape.parse(mesh)).toString();
  }

  @Test
  void theFirstFollowerTheAxisDividesTakesIt() {
    assertEquals("batch:x,heads:y,kv_heads:y", derived("batch:x,heads:y", "x:2,y:2"));
    assertEquals("heads:y,heads_per_kv:y", derived("heads:y", "y:4"), "4 does not divide 2 kv heads: the groups take y");
    assertEquals("heads:y", derived("heads:y", "y:8"), "8 divides neither: both stay whole");
  }

  @Test
  void aRuleNamingTheFollowerWinsAndAbsentAxesAreIgnored() {
    assertEquals("heads:y,kv_heads:x,heads_per_kv:y", derived("heads:y,kv_heads:x", "x:2,y:2"),
        "kv_heads is named: the groups take y");
    assertEquals("heads:y,kv_heads:y", derived("heads:y,kv_heads:y", "x:2,y:2"), "a named follower holds y already");
    assertEquals("heads:z", derived("heads:z", "x:2,y:2"), "heads' axis is not on the mesh");
    LayoutRules none = LayoutRules.parse("batch:x");
    assertSame(none, none.withFollowers(GQA, MeshShape.parse("x:2")), "nothing to follow: the same rules");
  }
}
